using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

/// <summary>The RFC 6962 test vectors of Google's certificate-transparency / transparency-dev/merkle (testonly/constants.go, proof/verify_test.go).</summary>
public sealed class MerkleVectorTests
{
    internal static readonly byte[][] Leaves = [.. new[] { "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f" }.Select(Convert.FromHexString)];

    internal static readonly string[] Roots =
    [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    private static readonly string[][] NodeHashes =
    [
        ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
         "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7", "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
         "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
         "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f", "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"],
        ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
         "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"],
        ["d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"],
        ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];

    // (leaf index, tree size, audit path); the vectors' leaf numbers are 1-based, these indexes 0-based.
    public static TheoryData<long, long, string[]> InclusionVectors => new()
    {
        { 0, 1, [] },
        { 0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"] },
        { 5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
        { 2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
        { 1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"] },
    };

    public static TheoryData<long, long, string[]> ConsistencyVectors => new()
    {
        { 1, 1, [] },
        { 1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"] },
        { 6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
        { 2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"] },
        { 6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"] },
    };

    private static readonly byte[] SomeHash = Convert.FromHexString("abacaba000000000000000000000000000000000000000000060061e00123456");
    private static MerkleTree Tree() => MerkleTree.Of(Leaves);
    private static byte[] Root(long size) => Convert.FromHexString(Roots[size]);

    [Fact]
    public void Roots_of_every_prefix_match_the_vectors()
    {
        var tree = Tree();
        for (var size = 0; size <= 8; size++)
            Assert.Equal(Roots[size], Convert.ToHexStringLower(tree.Root(size)));
        Assert.Equal(Roots[0], Convert.ToHexStringLower(new MerkleTree().Root()));
    }

    [Fact]
    public void Complete_subtree_hashes_match_the_vectors()
    {
        var tree = Tree();
        for (var level = 0; level < NodeHashes.Length; level++)
            for (var index = 0; index < NodeHashes[level].Length; index++)
                Assert.Equal(NodeHashes[level][index], Convert.ToHexStringLower(tree.Node(level, index)));
    }

    [Theory]
    [MemberData(nameof(InclusionVectors))]
    public void Inclusion_proofs_match_and_verify_and_every_corruption_fails(long index, long size, string[] expected)
    {
        var path = Tree().InclusionProof(index, size);
        Assert.Equal(expected, path.Select(Convert.ToHexStringLower));
        var leaf = Rfc6962.LeafHash(Leaves[index]);
        var root = Root(size);
        Assert.True(MerkleVerifier.VerifyInclusion(index, size, leaf, path, root));

        var probes = new List<(string What, long Index, long Size, byte[] Leaf, IReadOnlyList<byte[]> Path, byte[] Root)>
        {
            ("index - 1", index - 1, size, leaf, path, root),
            ("index + 1", index + 1, size, leaf, path, root),
            ("index ^ 2", index ^ 2, size, leaf, path, root),
            ("size * 2", index, size * 2, leaf, path, root),
            ("size / 2", index, size / 2, leaf, path, root),
            ("wrong leaf", index, size, Rfc6962.LeafHash("WrongLeaf"u8), path, root),
            ("empty root", index, size, leaf, path, Root(0)),
            ("random root", index, size, leaf, path, SomeHash),
            ("trailing garbage", index, size, leaf, [.. path, SomeHash], root),
            ("trailing root", index, size, leaf, [.. path, root], root),
            ("preceding garbage", index, size, leaf, [SomeHash, .. path], root),
            ("preceding root", index, size, leaf, [root, .. path], root),
        };
        for (var i = 0; i < path.Count; i++) probes.Add(($"proof[{i}] flipped", index, size, leaf, Flip(path, i), root));
        if (path.Count > 0) probes.Add(("removed component", index, size, leaf, path.Take(path.Count - 1).ToList(), root));
        if (path.Count > 1) probes.Add(("inserted component", index, size, leaf, [path[0], SomeHash, .. path.Skip(1)], root));

        var accepted = probes.Where(p => MerkleVerifier.VerifyInclusion(p.Index, p.Size, p.Leaf, p.Path, p.Root)).Select(p => p.What).ToList();
        Assert.Empty(accepted);
    }

    [Theory]
    [MemberData(nameof(ConsistencyVectors))]
    public void Consistency_proofs_match_and_verify_and_every_corruption_fails(long size1, long size2, string[] expected)
    {
        var proof = Tree().ConsistencyProof(size1, size2);
        Assert.Equal(expected, proof.Select(Convert.ToHexStringLower));
        byte[] root1 = Root(size1), root2 = Root(size2);
        Assert.True(MerkleVerifier.VerifyConsistency(size1, size2, proof, root1, root2));
        if (proof.Count == 0) return;

        var probes = new List<(string What, long Size1, long Size2, byte[] Root1, byte[] Root2, IReadOnlyList<byte[]> Proof)>
        {
            ("size1 - 1", size1 - 1, size2, root1, root2, proof),
            ("size1 + 1", size1 + 1, size2, root1, root2, proof),
            ("size1 ^ 2", size1 ^ 2, size2, root1, root2, proof),
            ("size2 * 2", size1, size2 * 2, root1, root2, proof),
            ("size2 / 2", size1, size2 / 2, root1, root2, proof),
            ("wrong root1", size1, size2, SomeHash, root2, proof),
            ("wrong root2", size1, size2, root1, SomeHash, proof),
            ("swapped roots", size1, size2, root2, root1, proof),
            ("empty proof", size1, size2, root1, root2, []),
            ("trailing garbage", size1, size2, root1, root2, [.. proof, SomeHash]),
            ("trailing root1", size1, size2, root1, root2, [.. proof, root1]),
            ("trailing root2", size1, size2, root1, root2, [.. proof, root2]),
            ("preceding garbage", size1, size2, root1, root2, [SomeHash, .. proof]),
            ("preceding root1", size1, size2, root1, root2, [root1, .. proof]),
            ("preceding root2", size1, size2, root1, root2, [root2, .. proof]),
            ("preceding proof[0]", size1, size2, root1, root2, [proof[0], .. proof]),
            ("truncated", size1, size2, root1, root2, proof.Take(proof.Count - 1).ToList()),
        };
        for (var i = 0; i < proof.Count; i++) probes.Add(($"proof[{i}] flipped", size1, size2, root1, root2, Flip(proof, i)));

        var accepted = probes.Where(p => MerkleVerifier.VerifyConsistency(p.Size1, p.Size2, p.Proof, p.Root1, p.Root2)).Select(p => p.What).ToList();
        Assert.Empty(accepted);
    }

    [Fact]
    public void Degenerate_consistency_cases_follow_the_rules()
    {
        byte[] a = Root(3), b = Root(5), empty = Root(0);
        Assert.True(MerkleVerifier.VerifyConsistency(0, 0, [], empty, empty));
        Assert.True(MerkleVerifier.VerifyConsistency(0, 5, [], empty, b));
        Assert.True(MerkleVerifier.VerifyConsistency(3, 3, [], a, a));
        Assert.False(MerkleVerifier.VerifyConsistency(0, 5, [], a, b), "size 0 must have the empty root");
        Assert.False(MerkleVerifier.VerifyConsistency(3, 3, [], a, b), "equal sizes need equal roots");
        Assert.False(MerkleVerifier.VerifyConsistency(3, 3, [empty], a, a), "equal sizes need an empty proof");
        Assert.False(MerkleVerifier.VerifyConsistency(5, 3, [], b, a), "a tree cannot shrink");
        Assert.False(MerkleVerifier.VerifyConsistency(3, 5, [], a, b), "growth needs a proof");
    }

    [Fact]
    public void Malformed_inputs_fail_without_throwing()
    {
        var tree = Tree();
        var leaf = Rfc6962.LeafHash(Leaves[2]);
        var path = tree.InclusionProof(2, 8);
        Assert.False(MerkleVerifier.VerifyInclusion(2, 8, leaf[..31], path, Root(8)));
        Assert.False(MerkleVerifier.VerifyInclusion(2, 8, leaf, [path[0][..16], .. path.Skip(1)], Root(8)));
        Assert.False(MerkleVerifier.VerifyInclusion(2, 8, leaf, path, Root(8)[..31]));
        Assert.False(MerkleVerifier.VerifyInclusion(-1, 8, leaf, path, Root(8)));
        Assert.False(MerkleVerifier.VerifyInclusion(8, 8, leaf, path, Root(8)));
        Assert.False(MerkleVerifier.VerifyConsistency(-1, 8, [], Root(0), Root(8)));
    }

    internal static IReadOnlyList<byte[]> Flip(IReadOnlyList<byte[]> hashes, int which, int at = 0, byte mask = 0x10)
    {
        var copy = hashes.Select(h => (byte[])h.Clone()).ToList();
        copy[which][at] ^= mask;
        return copy;
    }
}
