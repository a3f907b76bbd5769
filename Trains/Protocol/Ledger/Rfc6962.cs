using System.Numerics;
using System.Security.Cryptography;

namespace HealthTrain.Trains.Protocol.Ledger;

/// <summary>RFC 6962 §2.1 Merkle tree hashing with SHA-256: leaves and interior nodes are hashed with different prefixes.</summary>
public static class Rfc6962
{
    /// <summary>Every hash in the tree is a SHA-256 digest.</summary>
    public const int HashSize = 32;

    private static readonly byte[] Empty = SHA256.HashData([]);

    /// <summary>MTH({}) = SHA-256(""): the root of the empty tree.</summary>
    public static byte[] EmptyRoot => (byte[])Empty.Clone();

    /// <summary>SHA-256(0x00 || leaf). The prefix keeps a leaf from ever hashing like an interior node (second-preimage attacks).</summary>
    public static byte[] LeafHash(ReadOnlySpan<byte> leaf)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData([0x00]);
        hash.AppendData(leaf);
        return hash.GetHashAndReset();
    }

    /// <summary>SHA-256(0x01 || left || right).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        if (left.Length != HashSize || right.Length != HashSize)
            throw new ArgumentException($"node children must be {HashSize}-byte hashes");
        Span<byte> buffer = stackalloc byte[1 + 2 * HashSize];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        return SHA256.HashData(buffer);
    }

    /// <summary>k, the largest power of two smaller than <paramref name="n"/> (n ≥ 2): where MTH(D[n]) splits into D[0:k] and D[k:n].</summary>
    public static long SplitPoint(long n)
    {
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(n), n, "a tree splits only when it has two or more leaves");
        return 1L << (63 - BitOperations.LeadingZeroCount((ulong)(n - 1)));
    }

    /// <summary>Equal hashes, compared in constant time.</summary>
    public static bool SameHash(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) =>
        a.Length == HashSize && CryptographicOperations.FixedTimeEquals(a, b);
}
