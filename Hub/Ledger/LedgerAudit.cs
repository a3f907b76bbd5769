using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Ledger;

/// <summary>The outcome of a full check of the stored ledger, with how much was checked.</summary>
public sealed record LedgerAuditReport(long TreeSize, int HeadsChecked, LedgerVerdict Verdict, TimeSpan Took);

/// <summary>
/// Checks the whole stored ledger the way a client would, from the stored bytes alone: every entry parsed and its
/// signature checked against the hub's ledger key, the Merkle tree recomputed from the leaves, and every tree head the
/// hub ever signed checked for its signature and its root. Uses the clients' <see cref="LedgerVerifier"/>, so the hub
/// and its auditors agree on what "intact" means.
/// </summary>
public sealed class LedgerAudit(LedgerStore ledger, LedgerSigner signer)
{
    private const int Page = 1000;

    public LedgerAuditReport Run()
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var latest = ledger.Head();
        var key = signer.PublicKey;
        var entries = new List<LedgerRecord>();
        for (long from = 0; from < latest.TreeSize; from += Page)
            entries.AddRange(ledger.Entries(from, (int)Math.Min(Page, latest.TreeSize - from)));
        var verdict = LedgerVerifier.Verify(new LedgerAuditInput(key, latest)
        {
            EntriesFrom = 0,
            EntriesTo = latest.TreeSize,
            Entries = entries,
            // Every statement is recorded under the hub's ledger key (stations' and researchers' statements are vouched for by it).
            ActorKeys = keyId => keyId == signer.KeyId ? key : null,
        });

        // The verifier compares the recomputed tree with the latest head; the older heads are stored too, and each must hold.
        var findings = verdict.Findings.ToList();
        var heads = ledger.Heads();
        var tree = new MerkleTree();
        foreach (var record in entries.OrderBy(r => r.Index)) tree.AppendLeafHash(record.LeafHash());
        var rootBroken = false;
        long lastGood = 0;
        foreach (var head in heads)
        {
            if (!head.IsSignedBy(key))
                findings.Add(new LedgerFinding(LedgerProblem.HeadSignatureInvalid, null,
                    $"the stored tree head of size {head.TreeSize} is not signed by the hub key {signer.KeyId}"));
            else if (head.TreeSize > tree.Size)
                findings.Add(new LedgerFinding(LedgerProblem.LedgerShrank, tree.Size,
                    $"a tree head of size {head.TreeSize} is stored, but the ledger holds {tree.Size} entries"));
            else if (!rootBroken && !Rfc6962.SameHash(head.TreeSize == 0 ? Rfc6962.EmptyRoot : tree.Root(head.TreeSize), head.RootHash))
            {
                findings.Add(new LedgerFinding(LedgerProblem.EntryChanged, head.TreeSize - lastGood == 1 ? lastGood : null,
                    $"the entries no longer give the root of the tree head of size {head.TreeSize}: one of entries {lastGood}..{head.TreeSize - 1} was changed"));
                // Every later head fails too: the earliest broken one pins the change down.
                rootBroken = true;
            }
            else if (!rootBroken) lastGood = head.TreeSize;
        }
        var distinct = findings.GroupBy(f => (f.Problem, f.Index)).Select(g => g.First()).ToList();
        return new LedgerAuditReport(latest.TreeSize, heads.Count, new LedgerVerdict(distinct), started.Elapsed);
    }
}
