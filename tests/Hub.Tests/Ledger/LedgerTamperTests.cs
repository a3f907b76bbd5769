using System.Text;
using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

/// <summary>
/// Tampering with the hub's real SQLite store, then checking it as a client would: every tampering must be
/// detected and name exactly the entries it touched.
/// </summary>
public sealed class LedgerTamperTests : IDisposable
{
    private const int Size = 20;
    private readonly LedgerFixture f = new();
    private readonly List<LedgerReceipt> receipts;
    private readonly SignedTreeHead trusted;

    public LedgerTamperTests()
    {
        receipts = f.RecordMany(Size);
        trusted = f.Store.Head();
    }

    public void Dispose() => f.Dispose();

    [Fact]
    public void An_untouched_ledger_verifies()
    {
        f.RecordMany(5, start: Size);
        var verdict = LedgerVerifier.Verify(f.FullAudit(trusted, receipts));
        Assert.True(verdict.Ok, string.Join("\n", verdict.Findings));
    }

    [Fact]
    public void A_flipped_byte_in_an_entry_row_names_that_entry()
    {
        var leaf = ReadLeaf(7);
        var at = Encoding.UTF8.GetString(leaf).IndexOf("\"job/7\"", StringComparison.Ordinal) + 5;
        leaf[at] ^= 0x01; // job/7 → job/6
        Exec("UPDATE ledger_entries SET leaf = @leaf WHERE idx = 7", new { leaf });

        var verdict = LedgerVerifier.Verify(f.FullAudit(trusted, receipts));

        Assert.Equal([7L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryNotInTree, Index: 7 });
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryChanged, Index: 7 });
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntrySignatureInvalid, Index: 7 });
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(40)]
    [InlineData(-1)]
    public void Any_flipped_byte_names_the_entry_even_when_it_breaks_the_json(int position)
    {
        var leaf = ReadLeaf(12);
        leaf[position < 0 ? leaf.Length + position : position] ^= 0x20;
        Exec("UPDATE ledger_entries SET leaf = @leaf WHERE idx = 12", new { leaf });

        var verdict = LedgerVerifier.Verify(f.FullAudit(trusted, receipts));

        Assert.Equal([12L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryNotInTree, Index: 12 });
    }

    [Fact]
    public void A_deleted_entry_row_names_that_entry()
    {
        Exec("DELETE FROM ledger_entries WHERE idx = 5");

        var verdict = LedgerVerifier.Verify(f.FullAudit(trusted, receipts));

        Assert.Equal([5L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryMissing, Index: 5 });
    }

    [Fact]
    public void Two_swapped_entry_rows_name_both_entries()
    {
        var (a, b) = (Row(3), Row(11));
        Exec("UPDATE ledger_entries SET leaf = @leaf, leaf_hash = @hash WHERE idx = 3", new { leaf = b.Leaf, hash = b.Hash });
        Exec("UPDATE ledger_entries SET leaf = @leaf, leaf_hash = @hash WHERE idx = 11", new { leaf = a.Leaf, hash = a.Hash });

        var verdict = LedgerVerifier.Verify(f.FullAudit(trusted, receipts));

        Assert.Equal([3L, 11L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryMisplaced, Index: 3 });
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryMisplaced, Index: 11 });
    }

    [Fact]
    public void Without_proofs_or_its_receipt_the_signed_heads_a_client_holds_narrow_down_a_changed_entry()
    {
        // Still a well-formed entry, and neither its receipt, a proof nor its actor's key is at hand.
        var leaf = ReadLeaf(9);
        leaf[Encoding.UTF8.GetString(leaf).IndexOf("\"job/9\"", StringComparison.Ordinal) + 5] ^= 0x01;
        Exec("UPDATE ledger_entries SET leaf = @leaf WHERE idx = 9", new { leaf });
        var others = receipts.Where(r => r.Record.Index != 9).ToList();
        var audit = f.FullAudit(trusted, others) with { Proofs = [], ActorKeys = null };

        // The receipts of entries 8 and 10 carry heads of sizes 9 and 11: the change lies in between.
        var narrowed = LedgerVerifier.Verify(audit);
        Assert.Equal([new LedgerFinding(LedgerProblem.EntryChanged, null,
            "one of entries 9..10 is not what the hub signed in its tree head of size 11 (no receipt or head narrows it down)")], narrowed.Findings);

        // A client that also trusted the head of size 10 at some point pins it to entry 9.
        var older = f.Store.HeadAt(10)!;
        var pinned = LedgerVerifier.Verify(audit with { Trusted = older, Consistency = f.Store.ConsistencyProof(10, Size) });
        Assert.Equal([new LedgerFinding(LedgerProblem.EntryChanged, 9, "the served entry is not the one the hub signed in its tree head of size 10")], pinned.Findings);
    }

    [Fact]
    public void A_rewritten_history_is_detected_and_names_the_rewritten_entry()
    {
        // A hub that holds its own key rewrites entry 5 and rebuilds the whole tree, then signs new heads.
        using var forged = new LedgerFixture(f.Signer);
        foreach (var r in receipts)
        {
            var original = r.Record.Parse();
            if (original.Index == 5)
                forged.Store.Record(original.Kind, original.Actor, original.Subject, new JsonObject { ["job"] = 5, ["station"] = "hospital-x" });
            else
                forged.Store.Append(original.Signed);
        }
        forged.RecordMany(5, start: Size);

        var verdict = LedgerVerifier.Verify(forged.FullAudit(trusted, receipts));

        Assert.Equal([5L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.HistoryRewritten, Index: 5 });
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryChanged, Index: 5 });

        // A light client with only its trusted head still sees the rewrite, without knowing where.
        var light = LedgerVerifier.Verify(new LedgerAuditInput(f.Signer.PublicKey, forged.Store.Head())
        {
            Trusted = trusted,
            Consistency = forged.Store.ConsistencyProof(Size, Size + 5),
        });
        Assert.Equal([LedgerProblem.HistoryRewritten], light.Findings.Select(x => x.Problem));
        Assert.Empty(light.BadEntries);

        // A station that kept only its receipt for entry 5, and fetches just that entry, names it.
        var station = LedgerVerifier.Verify(new LedgerAuditInput(f.Signer.PublicKey, forged.Store.Head())
        {
            Receipts = [receipts[5]],
            EntriesFrom = 5,
            EntriesTo = 6,
            Entries = forged.Store.Entries(5, 1),
        });
        Assert.Equal([5L], station.BadEntries);
    }

    [Fact]
    public void A_hub_restored_from_an_old_backup_is_caught_shrinking_and_then_forking()
    {
        // Roll the database back to its state at 17 entries, as restoring an old backup would; the client trusts 20.
        Exec("DELETE FROM ledger_entries WHERE idx >= 17; DELETE FROM ledger_nodes WHERE (idx + 1) << level > 17; DELETE FROM ledger_heads WHERE tree_size > 17");

        var shrunk = LedgerVerifier.Verify(f.FullAudit(trusted, receipts));
        Assert.Contains(shrunk.Findings, x => x is { Problem: LedgerProblem.LedgerShrank, Index: 17 });
        Assert.Equal([17L, 18L, 19L], shrunk.BadEntries);

        // The restored hub carries on with other entries: its new head of 22 is not an extension of the trusted 20.
        f.RecordMany(5, start: 100);
        var forked = LedgerVerifier.Verify(f.FullAudit(trusted, receipts));
        Assert.Contains(forked.Findings, x => x is { Problem: LedgerProblem.HistoryRewritten, Index: 17 });
        Assert.Equal([17L, 18L, 19L], forked.BadEntries);
    }

    [Fact]
    public void A_tampered_tree_head_row_fails_its_signature()
    {
        Exec($"UPDATE ledger_heads SET root_hash = zeroblob(32) WHERE tree_size = {Size}");
        var verdict = LedgerVerifier.Verify(f.FullAudit(null, receipts));
        Assert.Equal([LedgerProblem.HeadSignatureInvalid], verdict.Findings.Select(x => x.Problem));
    }

    [Fact]
    public void A_forged_receipt_is_reported_as_such()
    {
        var forged = receipts[4] with { Record = receipts[4].Record with { Leaf = receipts[3].Record.Leaf } };
        var verdict = LedgerVerifier.Verify(f.FullAudit(trusted, [forged]));
        Assert.Equal([LedgerProblem.ReceiptInvalid], verdict.Findings.Select(x => x.Problem));
        Assert.Equal([4L], verdict.BadEntries);
    }

    private byte[] ReadLeaf(long index)
    {
        using var c = f.Db.Open();
        return c.ExecuteScalar<byte[]>("SELECT leaf FROM ledger_entries WHERE idx = @index", new { index })!;
    }

    private (byte[] Leaf, byte[] Hash) Row(long index)
    {
        using var c = f.Db.Open();
        return c.QuerySingle<(byte[], byte[])>("SELECT leaf, leaf_hash FROM ledger_entries WHERE idx = @index", new { index });
    }

    private void Exec(string sql, object? parameters = null)
    {
        using var c = f.Db.Open();
        Assert.True(c.Execute(sql, parameters) > 0, $"no row changed: {sql}");
    }
}

/// <summary>
/// A station keeps receipts of its own entries only (here every third entry) and holds no tree head of its own: its
/// receipts alone must name the entry a hub changed, removed or moved — even a hub that rebuilt and re-signed its tree.
/// </summary>
public sealed class StationReceiptTamperTests : IDisposable
{
    private const int Size = 20;
    private readonly LedgerFixture f = new();
    private readonly List<LedgerReceipt> all;
    private readonly List<LedgerReceipt> stations;

    public StationReceiptTamperTests()
    {
        all = f.RecordMany(Size);
        stations = [.. all.Where(r => r.Record.Index % 3 == 1)];
    }

    public void Dispose() => f.Dispose();

    /// <summary>What <c>ledger verify --receipts</c> checks first: every entry the hub serves, no proofs, no trusted head.</summary>
    private static LedgerAuditInput WithReceipts(LedgerFixture hub, IReadOnlyList<LedgerReceipt> receipts)
    {
        var latest = hub.Store.Head();
        return new LedgerAuditInput(hub.Signer.PublicKey, latest)
        {
            Receipts = receipts,
            EntriesFrom = 0,
            EntriesTo = latest.TreeSize,
            Entries = hub.Store.Entries(0, (int)latest.TreeSize),
        };
    }

    [Fact]
    public void Receipts_of_an_untouched_ledger_verify()
    {
        f.RecordMany(3, start: Size);
        var verdict = LedgerVerifier.Verify(WithReceipts(f, stations));
        Assert.True(verdict.Ok, string.Join("\n", verdict.Findings));
    }

    [Fact]
    public void A_hub_that_rewrote_a_stations_entry_and_re_signed_everything_is_named_by_that_receipt()
    {
        using var forged = new LedgerFixture(f.Signer);
        foreach (var r in all)
        {
            var original = r.Record.Parse();
            if (original.Index == 7)
                forged.Store.Record(original.Kind, original.Actor, original.Subject, new JsonObject { ["job"] = 7, ["station"] = "hospital-1", ["note"] = "rewritten" });
            else
                forged.Store.Append(original.Signed);
        }

        // Without receipts the forged ledger is internally sound: the hub holds its key.
        Assert.True(LedgerVerifier.Verify(WithReceipts(forged, [])).Ok);

        var verdict = LedgerVerifier.Verify(WithReceipts(forged, stations));
        Assert.Equal([7L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryChanged, Index: 7 });
    }

    [Fact]
    public void A_changed_byte_in_a_stations_entry_is_named()
    {
        var leaf = ReadLeaf(10);
        leaf[Encoding.UTF8.GetString(leaf).IndexOf("\"job/10\"", StringComparison.Ordinal) + 5] ^= 0x01;
        Exec("UPDATE ledger_entries SET leaf = @leaf WHERE idx = 10", new { leaf });

        var verdict = LedgerVerifier.Verify(WithReceipts(f, stations));
        Assert.Equal([10L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryChanged, Index: 10 });
    }

    [Fact]
    public void A_removed_stations_entry_is_named()
    {
        Exec("DELETE FROM ledger_entries WHERE idx = 13");
        var verdict = LedgerVerifier.Verify(WithReceipts(f, stations));
        Assert.Equal([13L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryMissing, Index: 13 });
    }

    [Fact]
    public void A_stations_entry_moved_to_another_position_is_named_at_both()
    {
        var (a, b) = (ReadLeaf(4), ReadLeaf(5));
        Exec("UPDATE ledger_entries SET leaf = @leaf WHERE idx = 4", new { leaf = b });
        Exec("UPDATE ledger_entries SET leaf = @leaf WHERE idx = 5", new { leaf = a });

        var verdict = LedgerVerifier.Verify(WithReceipts(f, stations));
        Assert.Equal([4L, 5L], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryChanged, Index: 4 });
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryMisplaced, Index: 5 });
    }

    private byte[] ReadLeaf(long index)
    {
        using var c = f.Db.Open();
        return c.ExecuteScalar<byte[]>("SELECT leaf FROM ledger_entries WHERE idx = @index", new { index })!;
    }

    private void Exec(string sql, object? parameters = null)
    {
        using var c = f.Db.Open();
        Assert.True(c.Execute(sql, parameters) > 0, $"no row changed: {sql}");
    }
}
