using System.Security.Cryptography;
using System.Text;
using Dapper;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Runs;
using HealthTrain.Hub.Storage;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.Hub.Tests.Ledger;

/// <summary>The receipts the hub keeps for each station's own entries, through the real job queue.</summary>
public sealed class StationReceiptsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ht-receipts-").FullName;
    private readonly HubDatabase db;
    private readonly LedgerSigner signer = LedgerSigner.FromKey(ECDsa.Create(ECCurve.NamedCurves.nistP256));
    private readonly LedgerStore ledger;
    private readonly StationReceipts receipts;
    private readonly RunStore runs;
    private readonly JobQueue queue;
    private readonly Caller alice, station, other;
    private readonly TrainInfo train;

    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"name":"stats","version":"1.0","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[{"name":"patients","kind":"count"}]}}
        """);

    public StationReceiptsTests()
    {
        db = new HubDatabase(Path.Combine(dir, "hub.db"));
        db.Migrate();
        var identities = new Identities(db);
        var signal = new JobSignal();
        ledger = new LedgerStore(db, signer);
        receipts = new StationReceipts(db, ledger);
        runs = new RunStore(db, signal, ledger);
        queue = new JobQueue(db, signal, ledger, new MergeSignal(), NullLogger<JobQueue>.Instance);
        identities.Create("alice", Roles.Researcher);
        identities.Create("st-1", Roles.Station);
        identities.Create("st-2", Roles.Station);
        (alice, station, other) = (identities.FindByName("alice")!, identities.FindByName("st-1")!, identities.FindByName("st-2")!);
        train = new TrainCatalog(db, ledger).Register(alice, "alice/stats", "sha256:aa", Manifest).Train;
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
    }

    private static StatisticsResult Patients(double n) => new() { Statistics = { ["patients"] = new StatisticValue { Kind = "count", Value = n } } };

    /// <summary>st-1 runs its job to a result under an approval; st-2's job fails before it runs.</summary>
    private async Task<(long Mine, long Theirs)> RunBothAsync()
    {
        runs.Create(alice, train, [station.Id, other.Id], 1, new());
        var mine = (await queue.NextAsync(station, TimeSpan.Zero, default))!;
        var theirs = (await queue.NextAsync(other, TimeSpan.Zero, default))!;
        Assert.Equal(JobReportOutcome.Accepted, queue.MarkStarted(station, mine.JobId,
            new JobStarted(new ApprovalStatement("sha256:aa", "dr-who", DateTimeOffset.UtcNow, "reviewed", []))));
        Assert.Equal(JobReportOutcome.Accepted, queue.Complete(station, mine.JobId, new JobResultUpload(Patients(3), new())).Outcome);
        Assert.Equal(JobReportOutcome.Accepted, queue.Fail(other, theirs.JobId, new JobFailureReport("verify", "no trusted signature")));
        return (mine.JobId, theirs.JobId);
    }

    [Fact]
    public async Task Each_station_gets_sound_receipts_of_exactly_its_own_entries()
    {
        var (mine, theirs) = await RunBothAsync();

        var kept = receipts.List(station.Id, -1, 100);
        Assert.Equal([LedgerKinds.JobDispatched, LedgerKinds.ApprovalRecorded, LedgerKinds.ResultUploaded], kept.Select(r => r.Record.Parse().Kind));
        Assert.All(kept, r => Assert.Equal($"job/{mine}", r.Record.Parse().Subject));
        Assert.All(kept, r => Assert.Null(r.Problem(signer.PublicKey)));
        // Each under the head signed in the transaction that appended it, not merely the latest.
        Assert.All(kept, r => Assert.Equal(r.Record.Index + 1, r.Head.TreeSize));

        var theirReceipts = receipts.List(other.Id, -1, 100);
        Assert.Equal([LedgerKinds.JobDispatched, LedgerKinds.JobRefused], theirReceipts.Select(r => r.Record.Parse().Kind));
        Assert.All(theirReceipts, r => Assert.Equal($"job/{theirs}", r.Record.Parse().Subject));

        // A station asks again from the last index it holds.
        Assert.Equal(kept.Skip(1).Select(r => r.Record.Index), receipts.List(station.Id, kept[0].Record.Index, 100).Select(r => r.Record.Index));
        Assert.Equal([kept[0].Record.Index], receipts.List(station.Id, -1, 1).Select(r => r.Record.Index));
        Assert.Empty(receipts.List(station.Id, kept[^1].Record.Index, 100));
    }

    [Fact]
    public async Task Receipts_kept_by_a_station_name_its_result_entry_after_the_hub_rewrote_the_digest_in_its_database()
    {
        var (mine, _) = await RunBothAsync();
        var kept = receipts.List(station.Id, -1, 100);
        var result = kept.Single(r => r.Record.Parse().Kind == LedgerKinds.ResultUploaded);

        // The hub's operator swaps the result digest in the stored entry.
        var text = Encoding.UTF8.GetString(result.Record.Leaf);
        var digest = result.Record.Parse().Payload["digest"]!.GetValue<string>();
        var forged = Encoding.UTF8.GetBytes(text.Replace(digest, "sha256:" + new string('0', 64)));
        using (var c = db.Open())
            Assert.Equal(1, c.Execute("UPDATE ledger_entries SET leaf = @forged WHERE idx = @idx", new { forged, idx = result.Record.Index }));

        var latest = ledger.Head();
        var verdict = LedgerVerifier.Verify(new LedgerAuditInput(signer.PublicKey, latest)
        {
            Receipts = kept,
            EntriesFrom = 0,
            EntriesTo = latest.TreeSize,
            Entries = ledger.Entries(0, (int)latest.TreeSize),
        });
        Assert.Equal([result.Record.Index], verdict.BadEntries);
        Assert.Contains(verdict.Findings, x => x is { Problem: LedgerProblem.EntryChanged } && x.Index == result.Record.Index);

        // A station that collects only now is served the forged bytes, and its check of the receipt refuses them.
        var late = receipts.List(station.Id, result.Record.Index - 1, 1).Single();
        Assert.Equal("its audit path does not lead from the entry to the tree head's root", late.Problem(signer.PublicKey));
        Assert.Equal($"job/{mine}", late.Record.Parse().Subject);
    }
}
