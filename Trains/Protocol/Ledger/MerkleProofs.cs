using System.Numerics;

namespace HealthTrain.Trains.Protocol.Ledger;

/// <summary>
/// Hashes of complete subtrees: the node at <c>level</c> l and <c>index</c> i is MTH of leaves [i·2^l, (i+1)·2^l);
/// level 0 holds the leaf hashes. Once written such a node never changes, which is what makes it storable.
/// </summary>
public interface IMerkleNodes
{
    /// <summary>The hash of a complete subtree; throws when it does not exist (yet).</summary>
    byte[] Node(int level, long index);
}

/// <summary>
/// MTH, PATH and PROOF exactly as RFC 6962 §2.1, §2.1.1 and §2.1.2 define them, with every MTH taken from
/// complete-subtree hashes instead of recomputed from leaves: each range the recursions visit is a few aligned
/// complete subtrees, so a root or a proof costs O(log² n) node reads whatever the tree size.
/// </summary>
public static class MerkleProofs
{
    /// <summary>MTH(D[size]): the root hash of the first <paramref name="size"/> leaves.</summary>
    public static byte[] Root(IMerkleNodes nodes, long size)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(size);
        return size == 0 ? Rfc6962.EmptyRoot : Hash(nodes, 0, size);
    }

    /// <summary>PATH(index, D[size]): the audit path of a leaf, from the leaf's sibling up to the root's child.</summary>
    public static IReadOnlyList<byte[]> Inclusion(IMerkleNodes nodes, long index, long size)
    {
        if (index < 0 || index >= size)
            throw new ArgumentOutOfRangeException(nameof(index), index, $"a tree of size {size} has no leaf {index}");
        var path = new List<byte[]>();
        Path(nodes, index, 0, size, path);
        return path;
    }

    /// <summary>PROOF(size1, D[size2]): the consistency proof that the tree of <paramref name="size1"/> leaves is a prefix of the one of <paramref name="size2"/>.</summary>
    public static IReadOnlyList<byte[]> Consistency(IMerkleNodes nodes, long size1, long size2)
    {
        if (size1 < 0 || size1 > size2)
            throw new ArgumentOutOfRangeException(nameof(size1), size1, $"no consistency proof from size {size1} to size {size2}");
        var proof = new List<byte[]>();
        // RFC 6962 defines PROOF for 0 < m < n; the other cases need no hashes at all.
        if (size1 > 0 && size1 < size2) SubProof(nodes, size1, 0, size2, true, proof);
        return proof;
    }

    // PATH(m, D[start:end]) = PATH(m, D[start:start+k]) : MTH(D[start+k:end]) if m is left of the split, else
    // PATH(m, D[start+k:end]) : MTH(D[start:start+k]); the recursion comes first, so the path runs leaf to root.
    private static void Path(IMerkleNodes nodes, long m, long start, long end, List<byte[]> path)
    {
        var n = end - start;
        if (n == 1) return;
        var k = Rfc6962.SplitPoint(n);
        if (m < start + k)
        {
            Path(nodes, m, start, start + k, path);
            path.Add(Hash(nodes, start + k, end));
        }
        else
        {
            Path(nodes, m, start + k, end, path);
            path.Add(Hash(nodes, start, start + k));
        }
    }

    // SUBPROOF(m, D[start:end], b), m counted from start: b is true while D[start:start+m] is still the old tree's own subtree.
    private static void SubProof(IMerkleNodes nodes, long m, long start, long end, bool b, List<byte[]> proof)
    {
        var n = end - start;
        if (m == n)
        {
            if (!b) proof.Add(Hash(nodes, start, end));
            return;
        }
        var k = Rfc6962.SplitPoint(n);
        if (m <= k)
        {
            SubProof(nodes, m, start, start + k, b, proof);
            proof.Add(Hash(nodes, start + k, end));
        }
        else
        {
            SubProof(nodes, m - k, start + k, end, false, proof);
            proof.Add(Hash(nodes, start, start + k));
        }
    }

    // MTH(D[start:end]) for the ranges the recursions produce: start is a multiple of a power of two at least as large
    // as the range, so the range is complete subtrees of strictly decreasing size, and MTH folds them right to left.
    private static byte[] Hash(IMerkleNodes nodes, long start, long end)
    {
        Span<(int Level, long Index)> pieces = stackalloc (int, long)[64];
        var count = 0;
        for (var at = start; at < end; count++)
        {
            var level = 63 - BitOperations.LeadingZeroCount((ulong)(end - at));
            if ((at & ((1L << level) - 1)) != 0)
                throw new InvalidOperationException($"range [{start}, {end}) is not made of aligned complete subtrees");
            pieces[count] = (level, at >> level);
            at += 1L << level;
        }
        var hash = nodes.Node(pieces[count - 1].Level, pieces[count - 1].Index);
        for (var i = count - 2; i >= 0; i--) hash = Rfc6962.NodeHash(nodes.Node(pieces[i].Level, pieces[i].Index), hash);
        return hash;
    }
}
