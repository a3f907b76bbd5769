namespace HealthTrain.Trains.Protocol.Ledger;

/// <summary>
/// An RFC 6962 tree held in memory: what a client builds from downloaded entries to recompute roots and proofs
/// itself. Keeps every complete subtree's hash (about 2n hashes for n leaves).
/// </summary>
public sealed class MerkleTree : IMerkleNodes
{
    private readonly List<List<byte[]>> levels = [[]];

    /// <summary>The number of leaves.</summary>
    public long Size => levels[0].Count;

    /// <summary>A tree of the given leaves (the leaf bytes, not their hashes).</summary>
    public static MerkleTree Of(IEnumerable<byte[]> leaves)
    {
        var tree = new MerkleTree();
        foreach (var leaf in leaves) tree.AppendLeaf(leaf);
        return tree;
    }

    /// <summary>Appends a leaf, hashing it as RFC 6962 does.</summary>
    public void AppendLeaf(ReadOnlySpan<byte> leaf) => AppendLeafHash(Rfc6962.LeafHash(leaf));

    /// <summary>Appends an already hashed leaf and every complete subtree it completes.</summary>
    public void AppendLeafHash(byte[] leafHash)
    {
        if (leafHash.Length != Rfc6962.HashSize) throw new ArgumentException($"a leaf hash has {Rfc6962.HashSize} bytes", nameof(leafHash));
        levels[0].Add(leafHash);
        for (var level = 0; levels[level].Count % 2 == 0; level++)
        {
            if (levels.Count == level + 1) levels.Add([]);
            var row = levels[level];
            levels[level + 1].Add(Rfc6962.NodeHash(row[^2], row[^1]));
        }
    }

    /// <inheritdoc />
    public byte[] Node(int level, long index)
    {
        if (level < 0 || level >= levels.Count || index < 0 || index >= levels[level].Count)
            throw new ArgumentOutOfRangeException(nameof(index), $"no complete subtree at level {level}, index {index}");
        return levels[level][(int)index];
    }

    /// <summary>The root hash of the first <paramref name="size"/> leaves (all of them by default).</summary>
    public byte[] Root(long? size = null) => MerkleProofs.Root(this, CheckSize(size ?? Size));

    /// <summary>The audit path of leaf <paramref name="index"/> in the tree of the first <paramref name="size"/> leaves.</summary>
    public IReadOnlyList<byte[]> InclusionProof(long index, long size) => MerkleProofs.Inclusion(this, index, CheckSize(size));

    /// <summary>The consistency proof from the first <paramref name="size1"/> leaves to the first <paramref name="size2"/>.</summary>
    public IReadOnlyList<byte[]> ConsistencyProof(long size1, long size2) => MerkleProofs.Consistency(this, size1, CheckSize(size2));

    private long CheckSize(long size) =>
        size >= 0 && size <= Size ? size : throw new ArgumentOutOfRangeException(nameof(size), size, $"the tree has {Size} leaves");
}
