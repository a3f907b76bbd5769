using System.Text.Json.Serialization;

namespace HealthTrain.Trains.Protocol.Ledger;

/// <summary>What can be wrong with the hub's ledger, as a client sees it.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<LedgerProblem>))]
public enum LedgerProblem
{
    /// <summary>A tree head is not signed by the hub's key.</summary>
    HeadSignatureInvalid,
    /// <summary>The latest tree head is smaller than one the hub signed before: entries were cut off the end.</summary>
    LedgerShrank,
    /// <summary>The latest tree head does not extend the trusted one: the hub rewrote history.</summary>
    HistoryRewritten,
    /// <summary>A kept receipt does not prove its own entry (damaged, or the hub issued a bad receipt).</summary>
    ReceiptInvalid,
    /// <summary>The hub does not serve an entry that a signed tree head includes.</summary>
    EntryMissing,
    /// <summary>The hub serves other bytes for an entry than it signed before.</summary>
    EntryChanged,
    /// <summary>The entry at this position names another index: entries were moved or swapped.</summary>
    EntryMisplaced,
    /// <summary>The served bytes are not a canonical ledger entry.</summary>
    EntryMalformed,
    /// <summary>The latest tree head does not commit to the served bytes at this position.</summary>
    EntryNotInTree,
    /// <summary>The actor's signature over the entry does not verify.</summary>
    EntrySignatureInvalid,
    /// <summary>The verifier does not know the key the entry claims to be signed with.</summary>
    EntryKeyUnknown,
    /// <summary>The hub served the same index twice.</summary>
    EntryDuplicated,
}

/// <summary>One problem found, with the entry it concerns when it can be pinned to one.</summary>
public sealed record LedgerFinding(LedgerProblem Problem, long? Index, string Message)
{
    public override string ToString() => Index is { } i ? $"entry {i}: {Message}" : Message;
}

/// <summary>The outcome of a ledger check: OK when nothing was found.</summary>
public sealed record LedgerVerdict(IReadOnlyList<LedgerFinding> Findings)
{
    public bool Ok => Findings.Count == 0;

    /// <summary>The indexes of the entries found wrong, ascending.</summary>
    public IReadOnlyList<long> BadEntries => [.. Findings.Where(f => f.Index is not null).Select(f => f.Index!.Value).Distinct().Order()];
}

/// <summary>
/// Everything a client checks the hub's ledger with. Only <see cref="HubPublicKey"/> and <see cref="Latest"/> are
/// required; each further input adds checks:
/// <list type="bullet">
/// <item><see cref="Trusted"/> + <see cref="Consistency"/>: the ledger only grew since the head the client trusts;</item>
/// <item><see cref="Receipts"/>: receipts the client kept from appends (each with the tree head of its time);</item>
/// <item><see cref="Entries"/> for the index range [<see cref="EntriesFrom"/>, <see cref="EntriesTo"/>): what the hub serves
/// now — every index in the range (cut at the latest tree size) must be there exactly once, be a canonical entry
/// naming its own index, match the receipts, and (with <see cref="Proofs"/>) be the leaf the latest head commits to.
/// With the range starting at 0, the client recomputes the tree and compares it with every signed head it holds;</item>
/// <item><see cref="ActorKeys"/>: actors' signatures are checked too.</item>
/// </list>
/// </summary>
/// <param name="HubPublicKey">The hub's ledger key, SubjectPublicKeyInfo DER, pinned by the client.</param>
/// <param name="Latest">The newest signed tree head from the hub.</param>
public sealed record LedgerAuditInput(byte[] HubPublicKey, SignedTreeHead Latest)
{
    /// <summary>The tree head the client already trusts (null on first contact).</summary>
    public SignedTreeHead? Trusted { get; init; }

    /// <summary>The hub's consistency proof from <see cref="Trusted"/> to <see cref="Latest"/>; required with <see cref="Trusted"/>.</summary>
    public ConsistencyProof? Consistency { get; init; }

    public IReadOnlyList<LedgerReceipt> Receipts { get; init; } = [];

    public long EntriesFrom { get; init; }

    /// <summary>End (exclusive) of the range the client asked for; entries at or past <see cref="Latest"/>'s size are not checked.</summary>
    public long EntriesTo { get; init; }

    public IReadOnlyList<LedgerRecord> Entries { get; init; } = [];

    /// <summary>Optional inclusion proofs of served entries, in the tree of <see cref="Latest"/>.</summary>
    public IReadOnlyList<InclusionProof> Proofs { get; init; } = [];

    /// <summary>Optional: SubjectPublicKeyInfo DER of a key id, or null when unknown. Without it actor signatures are not checked.</summary>
    public Func<string, byte[]?>? ActorKeys { get; init; }
}

/// <summary>
/// The checks a station or <c>healthtrain ledger verify</c> runs on the hub's ledger: pure functions of what the
/// client holds and what the hub served, reporting every entry found wrong by its index.
/// </summary>
public static class LedgerVerifier
{
    public static LedgerVerdict Verify(LedgerAuditInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var findings = new Findings();
        var key = input.HubPublicKey;
        var latest = input.Latest;

        if (!latest.IsSignedBy(key))
            return findings.Add(LedgerProblem.HeadSignatureInvalid, null, $"the latest tree head (size {latest.TreeSize}) is not signed by the hub key {LedgerSignatures.KeyId(key)}").Verdict();
        if (input.Trusted is { } t && !t.IsSignedBy(key))
            return findings.Add(LedgerProblem.HeadSignatureInvalid, null, $"the trusted tree head (size {t.TreeSize}) is not signed by the hub key {LedgerSignatures.KeyId(key)}").Verdict();

        var rewritten = CheckAppendOnly(input, findings);
        var served = CheckServedEntries(input, findings);
        var heads = CheckReceipts(input, served, findings);
        CompareWithSignedHeads(input, served, heads, findings);

        if (rewritten && input.Trusted is { } trusted)
        {
            // Name where history diverges when the other checks found it: the first bad entry the trusted tree covers.
            var first = findings.Indexes().Where(i => i < trusted.TreeSize).Cast<long?>().FirstOrDefault();
            findings.Add(LedgerProblem.HistoryRewritten, first,
                $"the latest tree head (size {latest.TreeSize}) does not extend the trusted one (size {trusted.TreeSize}): history was rewritten"
                + (first is { } f ? $" from entry {f} on" : "; keep receipts or check all entries to find the entry"));
        }
        return findings.Verdict();
    }

    // True when the trusted head is not a prefix of the latest one.
    private static bool CheckAppendOnly(LedgerAuditInput input, Findings findings)
    {
        if (input.Trusted is not { } trusted) return false;
        var latest = input.Latest;
        if (latest.TreeSize < trusted.TreeSize)
        {
            findings.Add(LedgerProblem.LedgerShrank, latest.TreeSize,
                $"the ledger shrank from {trusted.TreeSize} to {latest.TreeSize} entries: entries {latest.TreeSize}..{trusted.TreeSize - 1} are gone");
            return false;
        }
        var proof = input.Consistency;
        if (trusted.TreeSize < latest.TreeSize && (proof is null || proof.FromSize != trusted.TreeSize || proof.ToSize != latest.TreeSize))
            throw new ArgumentException($"a consistency proof from size {trusted.TreeSize} to {latest.TreeSize} is needed", nameof(input));
        return !MerkleVerifier.VerifyConsistency(trusted.TreeSize, latest.TreeSize, proof?.Path ?? [], trusted.RootHash, latest.RootHash);
    }

    // The served entries of the asked range, by index; each checked on its own.
    private static Dictionary<long, LedgerRecord> CheckServedEntries(LedgerAuditInput input, Findings findings)
    {
        var latest = input.Latest;
        var to = Math.Min(input.EntriesTo, latest.TreeSize);
        var served = new Dictionary<long, LedgerRecord>();
        foreach (var record in input.Entries)
        {
            if (record.Index < input.EntriesFrom || record.Index >= to) continue;
            if (!served.TryAdd(record.Index, record))
                findings.Add(LedgerProblem.EntryDuplicated, record.Index, "the hub served this index more than once");
        }
        var proofs = new Dictionary<long, InclusionProof>();
        foreach (var proof in input.Proofs)
        {
            if (proof.TreeSize != latest.TreeSize)
                throw new ArgumentException($"the proof for entry {proof.LeafIndex} is for tree size {proof.TreeSize}, not the latest {latest.TreeSize}", nameof(input));
            proofs[proof.LeafIndex] = proof;
        }

        for (var i = input.EntriesFrom; i < to; i++)
        {
            if (!served.TryGetValue(i, out var record))
            {
                findings.Add(LedgerProblem.EntryMissing, i, $"the hub does not serve this entry, which its tree head of size {latest.TreeSize} includes");
                continue;
            }
            if (!LedgerEntry.TryParse(record.Leaf, out var entry, out var error))
                findings.Add(LedgerProblem.EntryMalformed, i, error!);
            else
            {
                if (entry!.Index != i) findings.Add(LedgerProblem.EntryMisplaced, i, $"position {i} holds the entry that names index {entry.Index}");
                CheckActor(input, entry, findings);
            }
            if (proofs.TryGetValue(i, out var p) && !MerkleVerifier.VerifyInclusion(i, latest.TreeSize, record.LeafHash(), p.AuditPath, latest.RootHash))
                findings.Add(LedgerProblem.EntryNotInTree, i, $"the tree head of size {latest.TreeSize} does not commit to these bytes at this index");
        }
        return served;
    }

    private static void CheckActor(LedgerAuditInput input, LedgerEntry entry, Findings findings)
    {
        if (input.ActorKeys is null) return;
        if (input.ActorKeys(entry.KeyId) is not { } actorKey)
            findings.Add(LedgerProblem.EntryKeyUnknown, entry.Index, $"signed with key {entry.KeyId}, which the verifier does not know");
        else if (!entry.Signed.IsSignedBy(actorKey))
            findings.Add(LedgerProblem.EntrySignatureInvalid, entry.Index, $"the signature of {entry.Actor} (key {entry.KeyId}) does not verify");
    }

    // Compares each sound receipt with what the hub serves now; returns the receipts' signed heads.
    private static List<SignedTreeHead> CheckReceipts(LedgerAuditInput input, Dictionary<long, LedgerRecord> served, Findings findings)
    {
        var latest = input.Latest;
        var heads = new List<SignedTreeHead>();
        foreach (var receipt in input.Receipts)
        {
            var i = receipt.Record.Index;
            if (receipt.Problem(input.HubPublicKey) is { } problem)
            {
                findings.Add(LedgerProblem.ReceiptInvalid, i, $"the receipt for this entry is not sound: {problem}");
                continue;
            }
            heads.Add(receipt.Head);
            if (receipt.Head.TreeSize > latest.TreeSize)
                findings.Add(LedgerProblem.LedgerShrank, latest.TreeSize,
                    $"the hub signed a tree of size {receipt.Head.TreeSize} before, but its latest head has only {latest.TreeSize} entries");
            if (i >= latest.TreeSize)
                findings.Add(LedgerProblem.EntryMissing, i, $"the receipt's tree head (size {receipt.Head.TreeSize}) includes it; the latest (size {latest.TreeSize}) does not");
            else if (served.TryGetValue(i, out var now) && !now.Leaf.AsSpan().SequenceEqual(receipt.Record.Leaf))
                findings.Add(LedgerProblem.EntryChanged, i, $"the hub now serves other bytes than the ones in its receipt (tree head of size {receipt.Head.TreeSize})");
        }
        return heads;
    }

    // With every entry from 0 served, recompute the tree and compare it with each signed head the client holds:
    // between the last head that matches and the first that does not lies the entry that changed.
    private static void CompareWithSignedHeads(LedgerAuditInput input, Dictionary<long, LedgerRecord> served, List<SignedTreeHead> receiptHeads, Findings findings)
    {
        var count = Math.Min(input.EntriesTo, input.Latest.TreeSize);
        if (input.EntriesFrom != 0 || count == 0 || served.Count != count) return;
        var tree = new MerkleTree();
        for (var i = 0L; i < count; i++) tree.AppendLeafHash(served[i].LeafHash());

        IEnumerable<SignedTreeHead> known = [input.Latest, .. receiptHeads];
        if (input.Trusted is { } trusted) known = known.Append(trusted);
        long good = 0;
        foreach (var head in known.Where(h => h.TreeSize > 0 && h.TreeSize <= count).OrderBy(h => h.TreeSize))
        {
            if (Rfc6962.SameHash(tree.Root(head.TreeSize), head.RootHash))
            {
                good = head.TreeSize;
                continue;
            }
            if (findings.Indexes().Any(i => i >= good && i < head.TreeSize)) return; // already pinned down
            if (head.TreeSize - good == 1)
                findings.Add(LedgerProblem.EntryChanged, good, $"the served entry is not the one the hub signed in its tree head of size {head.TreeSize}");
            else
                findings.Add(LedgerProblem.EntryChanged, null,
                    $"one of entries {good}..{head.TreeSize - 1} is not what the hub signed in its tree head of size {head.TreeSize} (no receipt or head narrows it down)");
            return;
        }
    }

    private sealed class Findings
    {
        private readonly List<LedgerFinding> list = [];

        public Findings Add(LedgerProblem problem, long? index, string message)
        {
            if (!list.Any(f => f.Problem == problem && f.Index == index)) list.Add(new LedgerFinding(problem, index, message));
            return this;
        }

        public IEnumerable<long> Indexes() => list.Where(f => f.Index is not null).Select(f => f.Index!.Value).Order();

        public LedgerVerdict Verdict() => new([.. list.OrderBy(f => f.Index ?? -1).ThenBy(f => f.Problem)]);
    }
}
