using System.Text.Json.Nodes;
using HealthTrain.Station.Audit;
using HealthTrain.Station.Hub;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Station.Receipts;

/// <summary>
/// Collects the receipts of the station's own ledger entries from the hub after each job's reports, checks each against the
/// pinned hub ledger key (<c>Station:Trust:LedgerKey</c>, or the hub's key pinned at first use) and that its tree head
/// extends the last one kept, and keeps it. A receipt that does not check out, or contradicts one kept before, is kept
/// with the reason and written to the audit log.
/// </summary>
public sealed class ReceiptCollector(HubClient hub, ReceiptStore store, StationAudit audit, StationOptions options, ILogger<ReceiptCollector> log)
{
    private const int PageSize = 500;

    /// <summary>Fetches and keeps every receipt newer than the last one kept; returns how many were kept.</summary>
    public async Task<int> CollectAsync(CancellationToken ct)
    {
        var key = (await PinAsync(ct)).PublicKey();
        var last = store.LastSoundHead();
        var kept = 0;
        while (true)
        {
            var after = store.LastIndex();
            var page = await hub.ReceiptsAsync(after, PageSize, ct);
            var progressed = false;
            foreach (var receipt in page)
            {
                if (receipt.Record.Index <= after) continue; // not what was asked for; never replaces a kept receipt
                progressed = true;
                var problem = ReceiptStore.Check(receipt, key, options.Name) ?? await WhyNotExtendingAsync(last, receipt.Head, ct);
                var conflict = store.Add(receipt, problem);
                if (problem is null) last = receipt.Head;
                if ((problem ?? conflict) is { } why)
                {
                    log.LogError("ledger receipt for entry {Index} refused: {Problem}", receipt.Record.Index, why);
                    audit.Record(AuditKinds.ReceiptRefused, null, new JsonObject { ["entry"] = receipt.Record.Index, ["treeSize"] = receipt.Head.TreeSize, ["problem"] = why });
                }
                else kept++;
            }
            if (page.Count < PageSize || !progressed) return kept;
        }
    }

    /// <summary>
    /// Null when the receipt's tree head extends the last one the station kept (the hub's consistency proof checks out);
    /// else why not — a hub that rebuilt its ledger with an entry changed is caught at the station's next receipt.
    /// </summary>
    private async Task<string?> WhyNotExtendingAsync(SignedTreeHead? last, SignedTreeHead head, CancellationToken ct)
    {
        if (last is null) return null;
        if (head.TreeSize < last.TreeSize)
            return $"its tree head (size {head.TreeSize}) is older than the head of size {last.TreeSize} in a receipt kept before";
        var proof = await hub.ConsistencyProofAsync(last.TreeSize, head.TreeSize, ct);
        return proof.FromSize == last.TreeSize && proof.ToSize == head.TreeSize
               && MerkleVerifier.VerifyConsistency(last.TreeSize, head.TreeSize, proof.Path, last.RootHash, head.RootHash)
            ? null
            : $"its tree head (size {head.TreeSize}) does not extend the head of size {last.TreeSize} in a receipt kept before: the hub rewrote its ledger";
    }

    /// <summary>The key receipts are checked with: the configured one, else the hub's own, fetched once and pinned in station.db.</summary>
    private async Task<PinnedLedgerKey> PinAsync(CancellationToken ct)
    {
        if (options.Trust.LedgerKey is { Length: > 0 } path)
        {
            var configured = File.ReadAllText(path);
            var keyId = LedgerSignatures.KeyId(LedgerSignatures.PublicKeyFromPem(configured));
            var pinned = store.Pinned() ?? store.Pin(configured, $"config:{path}");
            if (pinned.KeyId != keyId)
                throw new InvalidOperationException($"Station:Trust:LedgerKey {path} is key {keyId}, but station.db pinned {pinned.KeyId} ({pinned.Source}); receipts are not collected until the operator resolves it");
            return pinned;
        }
        if (store.Pinned() is { } existing) return existing;
        var served = await hub.LedgerKeyAsync(ct);
        var key = store.Pin(served.PublicKeyPem, "hub, first use");
        if (key.KeyId != served.KeyId) log.LogWarning("the hub names its ledger key {Named}, but the key it serves is {Actual}", served.KeyId, key.KeyId);
        log.LogInformation("pinned the hub's ledger key {KeyId} on first use", key.KeyId);
        return key;
    }
}
