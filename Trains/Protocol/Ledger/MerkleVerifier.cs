namespace HealthTrain.Trains.Protocol.Ledger;

/// <summary>
/// Checks RFC 6962 proofs with the algorithms of RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency).
/// Anything malformed — wrong hash lengths, a path too long or too short for the tree — fails; nothing throws.
/// </summary>
public static class MerkleVerifier
{
    /// <summary>True when <paramref name="path"/> proves that <paramref name="leafHash"/> is leaf <paramref name="index"/> of the tree of <paramref name="size"/> leaves with root <paramref name="root"/>.</summary>
    public static bool VerifyInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> path, ReadOnlySpan<byte> root) =>
        RootFromInclusion(index, size, leafHash, path) is { } computed && Rfc6962.SameHash(computed, root);

    /// <summary>The root an audit path leads to from a leaf, or null when the path cannot belong to a tree of that size.</summary>
    public static byte[]? RootFromInclusion(long index, long size, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> path)
    {
        if (index < 0 || index >= size || leafHash.Length != Rfc6962.HashSize || !AllHashes(path)) return null;
        ulong fn = (ulong)index, sn = (ulong)(size - 1);
        var r = leafHash.ToArray();
        foreach (var p in path)
        {
            if (sn == 0) return null;
            if ((fn & 1) == 1 || fn == sn)
            {
                r = Rfc6962.NodeHash(p, r);
                // fn is the last node of its level: climb past the levels where it has no right sibling.
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                r = Rfc6962.NodeHash(r, p);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 ? r : null;
    }

    /// <summary>
    /// True when <paramref name="proof"/> shows that the tree of <paramref name="size1"/> leaves with root <paramref name="root1"/>
    /// is a prefix of the tree of <paramref name="size2"/> leaves with root <paramref name="root2"/>. Equal sizes need an empty
    /// proof and equal roots; size 0 needs an empty proof and the empty tree's root.
    /// </summary>
    public static bool VerifyConsistency(long size1, long size2, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> root1, ReadOnlySpan<byte> root2)
    {
        if (size1 < 0 || size2 < size1 || root1.Length != Rfc6962.HashSize || root2.Length != Rfc6962.HashSize || !AllHashes(proof))
            return false;
        if (size1 == size2) return proof.Count == 0 && Rfc6962.SameHash(root1, root2);
        if (size1 == 0) return proof.Count == 0 && Rfc6962.SameHash(root1, Rfc6962.EmptyRoot);
        if (proof.Count == 0) return false;

        // The proof leaves out MTH(D[size1]) when size1 is a power of two: it is the old root itself.
        IReadOnlyList<byte[]> path = (size1 & (size1 - 1)) == 0 ? [root1.ToArray(), .. proof] : proof;
        ulong fn = (ulong)(size1 - 1), sn = (ulong)(size2 - 1);
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }
        byte[] fr = path[0], sr = path[0];
        for (var i = 1; i < path.Count; i++)
        {
            var c = path[i];
            if (sn == 0) return false;
            if ((fn & 1) == 1 || fn == sn)
            {
                fr = Rfc6962.NodeHash(c, fr);
                sr = Rfc6962.NodeHash(c, sr);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                sr = Rfc6962.NodeHash(sr, c);
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && Rfc6962.SameHash(fr, root1) && Rfc6962.SameHash(sr, root2);
    }

    private static bool AllHashes(IReadOnlyList<byte[]>? hashes)
    {
        if (hashes is null) return false; // a proof missing from a JSON answer
        foreach (var h in hashes)
            if (h is null || h.Length != Rfc6962.HashSize) return false;
        return true;
    }
}
