using System.Security.Cryptography;
using System.Text.Json.Nodes;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Station.Tests.Receipts;

/// <summary>A hub ledger in memory, signing heads with its own key as the hub does: the receipts a station would be served.</summary>
internal sealed class TestLedger(ECDsa? sharedKey = null) : IDisposable
{
    private readonly ECDsa key = sharedKey ?? ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly MerkleTree tree = new();

    /// <summary>The ledger key, for a forged ledger signed by the same hub.</summary>
    public ECDsa Key => key;

    public ConsistencyProof ConsistencyProof(long from, long to) => new(from, to, tree.ConsistencyProof(from, to));

    public string KeyId => LedgerSignatures.KeyId(key);

    public byte[] PublicKey => key.ExportSubjectPublicKeyInfo();

    public string PublicKeyPem => PemEncoding.WriteString("PUBLIC KEY", PublicKey) + "\n";

    /// <summary>Appends a statement and returns its receipt under the head signed right after it.</summary>
    public LedgerReceipt Append(string kind, string actor, string subject, JsonObject? payload = null)
    {
        var signed = new LedgerStatement(kind, actor, subject, payload ?? new JsonObject(), DateTimeOffset.UtcNow).Sign(key);
        var index = tree.Size;
        var leaf = LedgerEntry.At(index, signed).ToLeaf();
        tree.AppendLeaf(leaf);
        var size = tree.Size;
        var root = tree.Root();
        var at = LedgerTime.Truncate(DateTimeOffset.UtcNow);
        var head = new SignedTreeHead(size, at, root, KeyId, LedgerSignatures.Sign(key, SignedTreeHead.SigningBytes(size, at, root)));
        return new LedgerReceipt(new LedgerRecord(index, leaf), new InclusionProof(index, size, tree.InclusionProof(index, size)), head);
    }

    public void Dispose()
    {
        if (sharedKey is null) key.Dispose();
    }
}
