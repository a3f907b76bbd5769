using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Ledger;

/// <summary>
/// The right edge of a tree of <see cref="Size"/> leaves: one complete subtree per set bit of the size. Enough to
/// append leaves and compute the root without reading the rest of the tree (a "compact range" in Trillian's terms).
/// </summary>
internal sealed class TreeFrontier
{
    private readonly SortedDictionary<int, byte[]> subtrees = []; // level → hash

    private TreeFrontier(long size) => Size = size;

    public long Size { get; private set; }

    /// <summary>The frontier of a stored tree, reading one complete subtree per set bit of <paramref name="size"/>.</summary>
    public static TreeFrontier Load(long size, IMerkleNodes nodes)
    {
        var frontier = new TreeFrontier(size);
        for (var level = 0; level < 63; level++)
            if ((size & (1L << level)) != 0) frontier.subtrees[level] = nodes.Node(level, (size >> level) - 1);
        return frontier;
    }

    /// <summary>Adds leaf <see cref="Size"/>; returns the complete subtrees above level 0 that it completes, for storing.</summary>
    public List<(int Level, long Index, byte[] Hash)> Append(byte[] leafHash)
    {
        var completed = new List<(int, long, byte[])>();
        var hash = leafHash;
        var level = 0;
        while (subtrees.Remove(level, out var left))
        {
            hash = Rfc6962.NodeHash(left, hash);
            level++;
            completed.Add((level, Size >> level, hash));
        }
        subtrees[level] = hash;
        Size++;
        return completed;
    }

    /// <summary>MTH of the whole tree: the subtrees folded from the smallest (rightmost) up.</summary>
    public byte[] Root()
    {
        byte[]? root = null;
        foreach (var (_, hash) in subtrees) root = root is null ? hash : Rfc6962.NodeHash(hash, root);
        return root ?? Rfc6962.EmptyRoot;
    }
}
