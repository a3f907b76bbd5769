using System.Text;
using System.Text.Json.Nodes;

namespace HealthTrain.Trains.Protocol.Ledger;

// The ledger's HTTP contracts, shared by the hub, stations and the CLI. Hashes and signatures are byte arrays,
// which JSON carries as base64.

/// <summary>The hub's signed statement that its ledger held <see cref="TreeSize"/> entries with root <see cref="RootHash"/> at <see cref="Timestamp"/>.</summary>
public sealed record SignedTreeHead(long TreeSize, DateTimeOffset Timestamp, byte[] RootHash, string KeyId, byte[] Signature)
{
    /// <summary>Prefix of the signed bytes: a signature over a tree head can never pass for one over a statement.</summary>
    public const string SigningContext = "healthtrain ledger tree head v1\n";

    /// <summary>The bytes the hub signs: <see cref="SigningContext"/>, then the canonical JSON of <c>{rootHash (lower-case hex), timestamp, treeSize}</c>.</summary>
    public static byte[] SigningBytes(long treeSize, DateTimeOffset timestamp, ReadOnlySpan<byte> rootHash)
    {
        if (rootHash.Length != Rfc6962.HashSize) throw new ArgumentException("a root hash has 32 bytes", nameof(rootHash));
        ArgumentOutOfRangeException.ThrowIfNegative(treeSize);
        var json = CanonicalJson.Canonicalize(new JsonObject
        {
            ["rootHash"] = Convert.ToHexStringLower(rootHash),
            ["timestamp"] = LedgerTime.ToText(timestamp),
            ["treeSize"] = treeSize,
        });
        return [.. Encoding.UTF8.GetBytes(SigningContext), .. json];
    }

    /// <summary>True when the hub key <paramref name="hubPublicKey"/> (SubjectPublicKeyInfo DER) signed this head.</summary>
    public bool IsSignedBy(ReadOnlySpan<byte> hubPublicKey) =>
        TreeSize >= 0 && RootHash is { Length: Rfc6962.HashSize } && Signature is not null
        && LedgerSignatures.KeyId(hubPublicKey) == KeyId
        && LedgerSignatures.Verify(hubPublicKey, SigningBytes(TreeSize, Timestamp, RootHash), Signature);
}

/// <summary>An audit path: proves leaf <see cref="LeafIndex"/> is in the tree of <see cref="TreeSize"/> leaves. Hashes run leaf to root.</summary>
public sealed record InclusionProof(long LeafIndex, long TreeSize, IReadOnlyList<byte[]> AuditPath);

/// <summary>Proves the tree of <see cref="FromSize"/> leaves is a prefix of the tree of <see cref="ToSize"/> leaves.</summary>
public sealed record ConsistencyProof(long FromSize, long ToSize, IReadOnlyList<byte[]> Path);

/// <summary>An entry as the hub stores and serves it: its index and its exact leaf bytes (canonical JSON, see <see cref="LedgerEntry"/>).</summary>
public sealed record LedgerRecord(long Index, byte[] Leaf)
{
    public byte[] LeafHash() => Rfc6962.LeafHash(Leaf);

    /// <summary>The parsed entry; throws <see cref="FormatException"/> when the bytes are not a canonical entry.</summary>
    public LedgerEntry Parse() => LedgerEntry.Parse(Leaf);
}

/// <summary>
/// What the hub hands back when it appends: the entry, its audit path and the signed tree head that includes it.
/// Whoever keeps a receipt can later show exactly which entry the hub changed or dropped.
/// </summary>
public sealed record LedgerReceipt(LedgerRecord Record, InclusionProof Proof, SignedTreeHead Head)
{
    /// <summary>Null when the receipt is sound — signed by the hub and proving its own entry — else the reason it is not.</summary>
    public string? Problem(ReadOnlySpan<byte> hubPublicKey)
    {
        if (!Head.IsSignedBy(hubPublicKey)) return "its tree head is not signed by the hub key";
        if (Proof.LeafIndex != Record.Index || Proof.TreeSize != Head.TreeSize) return "its proof is for another leaf or tree size";
        return MerkleVerifier.VerifyInclusion(Record.Index, Head.TreeSize, Record.LeafHash(), Proof.AuditPath, Head.RootHash)
            ? null
            : "its audit path does not lead from the entry to the tree head's root";
    }
}

/// <summary>The hub's ledger key, for clients to pin: its id and the PEM <c>PUBLIC KEY</c>.</summary>
public sealed record LedgerKey(string KeyId, string PublicKeyPem);
