using System.Text.Json;
using Dapper;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Station.Receipts;

/// <summary>The hub ledger key this station checks receipts with, and where it came from (its configuration, or the hub on first use).</summary>
public sealed record PinnedLedgerKey(string KeyId, string PublicKeyPem, string Source, DateTimeOffset PinnedAt)
{
    /// <summary>SubjectPublicKeyInfo DER of the key.</summary>
    public byte[] PublicKey() => LedgerSignatures.PublicKeyFromPem(PublicKeyPem);
}

/// <summary>
/// The receipts of this station's own entries in the hub's ledger, in station.db: each kept with the station's verdict on
/// it, so a receipt the hub got wrong is evidence too. A receipt once kept for an index is never replaced.
/// </summary>
public sealed class ReceiptStore(StationDatabase db)
{
    /// <summary>Why <paramref name="receipt"/> cannot be the station's receipt, or null when it checks out: signed by the pinned
    /// hub key, its audit path leading from the entry to the signed root, a canonical entry at its own index, about this station.</summary>
    public static string? Check(LedgerReceipt receipt, ReadOnlySpan<byte> hubKey, string stationName)
    {
        if (receipt.Problem(hubKey) is { } problem) return problem;
        if (!LedgerEntry.TryParse(receipt.Record.Leaf, out var entry, out var error)) return error;
        if (entry!.Index != receipt.Record.Index) return $"the entry names index {entry.Index}, not {receipt.Record.Index}";
        // The station's own statements, and what the hub recorded about the station's jobs (dispatch, refusing a result).
        if (entry.Actor != stationName && !(entry.Actor == "hub" && entry.Subject.StartsWith("job/", StringComparison.Ordinal)))
            return $"the entry is {entry.Actor}'s {entry.Kind} on {entry.Subject}, not this station's";
        return null;
    }

    public PinnedLedgerKey? Pinned()
    {
        using var c = db.Open();
        return c.QuerySingleOrDefault<PinnedLedgerKey>(
            "SELECT key_id AS KeyId, public_key_pem AS PublicKeyPem, source AS Source, pinned_at AS PinnedAt FROM ledger_pin WHERE id = 1");
    }

    /// <summary>Pins <paramref name="publicKeyPem"/> unless a key is pinned already; returns the key pinned now.</summary>
    public PinnedLedgerKey Pin(string publicKeyPem, string source)
    {
        var keyId = LedgerSignatures.KeyId(LedgerSignatures.PublicKeyFromPem(publicKeyPem));
        using (var c = db.Open())
            c.Execute("INSERT INTO ledger_pin (id, key_id, public_key_pem, source, pinned_at) VALUES (1, @keyId, @publicKeyPem, @source, @now) ON CONFLICT (id) DO NOTHING",
                new { keyId, publicKeyPem, source, now = DateTimeOffset.UtcNow });
        return Pinned()!;
    }

    /// <summary>The highest entry index a receipt is kept for, or -1.</summary>
    public long LastIndex()
    {
        using var c = db.Open();
        return c.ExecuteScalar<long?>("SELECT MAX(idx) FROM ledger_receipts") ?? -1;
    }

    /// <summary>
    /// Keeps a receipt with the station's verdict (<paramref name="problem"/>, null when sound). A receipt for an index already
    /// kept is not stored; the answer says whether it contradicts the kept one — the hub serving other bytes for the same entry.
    /// </summary>
    public string? Add(LedgerReceipt receipt, string? problem)
    {
        var (kind, subject) = LedgerEntry.TryParse(receipt.Record.Leaf, out var entry, out _) ? (entry!.Kind, entry.Subject) : ("(malformed)", "(malformed)");
        using var c = db.Open();
        var added = c.Execute("""
            INSERT INTO ledger_receipts (idx, kind, subject, tree_size, receipt_json, received_at, problem)
            VALUES (@idx, @kind, @subject, @treeSize, @json, @now, @problem) ON CONFLICT (idx) DO NOTHING
            """, new { idx = receipt.Record.Index, kind, subject, treeSize = receipt.Head.TreeSize, json = JsonSerializer.Serialize(receipt, ProtocolJson.Api),
                       now = DateTimeOffset.UtcNow, problem });
        if (added == 1) return null;
        var kept = JsonSerializer.Deserialize<LedgerReceipt>(c.QuerySingle<string>("SELECT receipt_json FROM ledger_receipts WHERE idx = @idx", new { idx = receipt.Record.Index }), ProtocolJson.Api)!;
        return kept.Record.Leaf.AsSpan().SequenceEqual(receipt.Record.Leaf)
            ? null
            : $"the hub now serves entry {receipt.Record.Index} with other bytes than in the receipt kept since tree size {kept.Head.TreeSize}";
    }

    /// <summary>The tree head of the sound receipt with the largest tree: every later receipt's head must extend it.</summary>
    public SignedTreeHead? LastSoundHead()
    {
        using var c = db.Open();
        var json = c.QueryFirstOrDefault<string>("SELECT receipt_json FROM ledger_receipts WHERE problem IS NULL ORDER BY tree_size DESC LIMIT 1");
        return json is null ? null : JsonSerializer.Deserialize<LedgerReceipt>(json, ProtocolJson.Api)!.Head;
    }

    /// <summary>Kept receipts for entries after <paramref name="after"/>, oldest first.</summary>
    public IReadOnlyList<StationReceipt> List(long after = -1, int limit = 1000)
    {
        using var c = db.Open();
        return c.Query<(string Kind, string Subject, string Json, DateTimeOffset ReceivedAt, string? Problem)>(
                "SELECT kind, subject, receipt_json, received_at, problem FROM ledger_receipts WHERE idx > @after ORDER BY idx LIMIT @limit", new { after, limit })
            .Select(r => new StationReceipt(JsonSerializer.Deserialize<LedgerReceipt>(r.Json, ProtocolJson.Api)!, r.Kind, r.Subject, r.ReceivedAt, r.Problem))
            .ToList();
    }
}
