using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

/// <summary>Every proof of every tree up to 64 leaves, against a literal transcription of RFC 6962 §2.1 as the oracle.</summary>
public sealed class MerkleProofPropertyTests
{
    private const int MaxSize = 64;
    private static readonly byte[][] LeafHashes = [.. Enumerable.Range(0, MaxSize).Select(i => Rfc6962.LeafHash(RandomBytes(i)))];
    private static readonly MerkleTree Tree = Build();

    [Fact]
    public void Roots_equal_the_rfc_definition_for_every_size()
    {
        for (var n = 0; n <= MaxSize; n++)
            Assert.Equal(Reference.Mth(LeafHashes[..n]), Tree.Root(n));
    }

    [Fact]
    public void Every_inclusion_proof_equals_the_rfc_path_and_verifies_and_no_other_index_or_size_accepts_it()
    {
        for (var n = 1; n <= MaxSize; n++)
        {
            var root = Tree.Root(n);
            for (var m = 0; m < n; m++)
            {
                var path = Tree.InclusionProof(m, n);
                Assert.Equal(Reference.Path(m, LeafHashes[..n]), path);
                Assert.True(MerkleVerifier.VerifyInclusion(m, n, LeafHashes[m], path, root), $"({m}, {n})");

                for (var other = 0; other < n; other++)
                    if (other != m) Assert.False(MerkleVerifier.VerifyInclusion(other, n, LeafHashes[m], path, root), $"({m}, {n}) accepted as index {other}");
                // A client checks against the signed root of the size it was told: a proof for another size never leads there.
                for (var size = m + 1; size <= MaxSize; size++)
                    if (size != n) Assert.False(MerkleVerifier.VerifyInclusion(m, size, LeafHashes[m], path, Tree.Root(size)), $"({m}, {n}) accepted for size {size}");
                Assert.False(MerkleVerifier.VerifyInclusion(m, n, LeafHashes[(m + 1) % MaxSize], path, root), $"({m}, {n}) accepted another leaf");
                for (var i = 0; i < path.Count; i++)
                    for (var at = 0; at < Rfc6962.HashSize; at += 7)
                        Assert.False(MerkleVerifier.VerifyInclusion(m, n, LeafHashes[m], MerkleVectorTests.Flip(path, i, at, 0x01), root), $"({m}, {n}) accepted with proof[{i}][{at}] flipped");
                var flippedRoot = (byte[])root.Clone();
                flippedRoot[m % Rfc6962.HashSize] ^= 0x80;
                Assert.False(MerkleVerifier.VerifyInclusion(m, n, LeafHashes[m], path, flippedRoot));
            }
        }
    }

    [Fact]
    public void Every_consistency_proof_equals_the_rfc_proof_and_verifies_and_no_other_size_accepts_it()
    {
        for (var n = 1; n <= MaxSize; n++)
        {
            var root2 = Tree.Root(n);
            for (var m = 0; m <= n; m++)
            {
                var root1 = Tree.Root(m);
                var proof = Tree.ConsistencyProof(m, n);
                Assert.Equal(0 < m && m < n ? Reference.Proof(m, LeafHashes[..n]) : [], proof);
                Assert.True(MerkleVerifier.VerifyConsistency(m, n, proof, root1, root2), $"({m}, {n})");

                // The trivial cases (m = 0 or m = n) share the empty proof; every other proof belongs to one pair of sizes.
                if (m > 0 && m < n)
                {
                    for (var other = 0; other <= n; other++)
                        if (other != m) Assert.False(MerkleVerifier.VerifyConsistency(other, n, proof, Tree.Root(other), root2), $"({m}, {n}) accepted from size {other}");
                    for (var other = m; other <= MaxSize; other++)
                        if (other != n) Assert.False(MerkleVerifier.VerifyConsistency(m, other, proof, root1, Tree.Root(other)), $"({m}, {n}) accepted to size {other}");
                    Assert.False(MerkleVerifier.VerifyConsistency(m, n, proof, root2, root1), $"({m}, {n}) accepted swapped roots");
                    for (var i = 0; i < proof.Count; i++)
                        for (var at = 0; at < Rfc6962.HashSize; at += 7)
                            Assert.False(MerkleVerifier.VerifyConsistency(m, n, MerkleVectorTests.Flip(proof, i, at, 0x01), root1, root2), $"({m}, {n}) accepted with proof[{i}][{at}] flipped");
                }
            }
        }
    }

    private static MerkleTree Build()
    {
        var tree = new MerkleTree();
        foreach (var hash in LeafHashes) tree.AppendLeafHash(hash);
        return tree;
    }

    private static byte[] RandomBytes(int seed)
    {
        var bytes = new byte[new Random(seed).Next(0, 40)];
        new Random(seed + 1000).NextBytes(bytes);
        return bytes;
    }

    /// <summary>RFC 6962 §2.1, §2.1.1, §2.1.2 written out literally over lists of leaf hashes.</summary>
    private static class Reference
    {
        public static byte[] Mth(byte[][] d) => d.Length switch
        {
            0 => Rfc6962.EmptyRoot,
            1 => d[0],
            _ => Rfc6962.NodeHash(Mth(d[..K(d.Length)]), Mth(d[K(d.Length)..])),
        };

        public static List<byte[]> Path(int m, byte[][] d)
        {
            if (d.Length == 1) return [];
            var k = K(d.Length);
            return m < k ? [.. Path(m, d[..k]), Mth(d[k..])] : [.. Path(m - k, d[k..]), Mth(d[..k])];
        }

        public static List<byte[]> Proof(int m, byte[][] d) => SubProof(m, d, true);

        private static List<byte[]> SubProof(int m, byte[][] d, bool b)
        {
            if (m == d.Length) return b ? [] : [Mth(d)];
            var k = K(d.Length);
            return m <= k ? [.. SubProof(m, d[..k], b), Mth(d[k..])] : [.. SubProof(m - k, d[k..], false), Mth(d[..k])];
        }

        // The largest power of two smaller than n, found by counting up rather than by bit tricks.
        private static int K(int n)
        {
            var k = 1;
            while (k * 2 < n) k *= 2;
            return k;
        }
    }
}
