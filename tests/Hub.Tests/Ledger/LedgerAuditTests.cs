using Dapper;
using HealthTrain.Hub.Ledger;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

/// <summary>The console's full check of the stored ledger: every kind of damage to the store is found and pinned to its entry or head.</summary>
public sealed class LedgerAuditTests : IDisposable
{
    private readonly LedgerFixture f = new();
    private readonly LedgerAudit audit;

    public LedgerAuditTests()
    {
        f.RecordMany(6);
        audit = new LedgerAudit(f.Store, f.Signer);
    }

    public void Dispose() => f.Dispose();

    [Fact]
    public void An_untouched_ledger_passes_with_every_entry_and_head_checked()
    {
        var report = audit.Run();
        Assert.True(report.Verdict.Ok, string.Join("\n", report.Verdict.Findings));
        Assert.Equal(6, report.TreeSize);
        Assert.Equal(6, report.HeadsChecked);
    }

    [Fact]
    public void An_entry_rewritten_and_signed_with_another_key_is_named()
    {
        var forger = LedgerSigner.FromKey(System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256));
        var original = f.Store.Entries(3, 1).Single().Parse();
        var forged = LedgerEntry.At(3, forger.SignStatement(new LedgerStatement(original.Kind, original.Actor, "job/999", original.Payload, original.Timestamp)));
        using (var c = f.Db.Open())
            c.Execute("UPDATE ledger_entries SET leaf = @leaf WHERE idx = 3", new { leaf = forged.ToLeaf() });

        var findings = audit.Run().Verdict.Findings;
        Assert.Contains(findings, x => x is { Problem: LedgerProblem.EntryKeyUnknown, Index: 3 });
        // Head 4 is the first whose root no longer comes out of the leaves: the change lies in entry 3.
        Assert.Contains(findings, x => x is { Problem: LedgerProblem.EntryChanged, Index: 3 });
        Assert.All(findings, x => Assert.Equal(3, x.Index));
    }

    [Fact]
    public void A_stored_tree_head_with_a_broken_signature_is_named_by_its_size()
    {
        using (var c = f.Db.Open())
        {
            var signature = c.QuerySingle<byte[]>("SELECT signature FROM ledger_heads WHERE tree_size = 2");
            signature[^1] ^= 0x01;
            c.Execute("UPDATE ledger_heads SET signature = @signature WHERE tree_size = 2", new { signature });
        }
        var finding = Assert.Single(audit.Run().Verdict.Findings);
        Assert.Equal(LedgerProblem.HeadSignatureInvalid, finding.Problem);
        Assert.Contains("tree head of size 2 is not signed by the hub key", finding.Message);
    }

    [Fact]
    public void A_deleted_entry_is_missing()
    {
        using (var c = f.Db.Open())
            c.Execute("DELETE FROM ledger_entries WHERE idx = 5");
        Assert.Contains(audit.Run().Verdict.Findings, x => x is { Problem: LedgerProblem.EntryMissing, Index: 5 });
    }
}
