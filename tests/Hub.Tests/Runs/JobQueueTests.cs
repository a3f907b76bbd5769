using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Hub.Runs;
using HealthTrain.Hub.Storage;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.Hub.Tests.Runs;

public sealed class JobQueueTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-queue-").FullName;
    private readonly HubDatabase _db;
    private readonly Identities _identities;
    private readonly RunStore _runs;
    private readonly JobQueue _queue;
    private readonly LedgerStore _ledger;
    private readonly Caller _alice, _station, _other;
    private readonly TrainInfo _train;

    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"name":"stats","version":"1.0","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[{"name":"patients","kind":"count"}]}}
        """);

    public JobQueueTests()
    {
        _db = new HubDatabase(Path.Combine(_dir, "hub.db"));
        _db.Migrate();
        _identities = new Identities(_db);
        var signal = new JobSignal();
        _ledger = new LedgerStore(_db, LedgerSigner.FromKey(System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256)));
        _runs = new RunStore(_db, signal, _ledger);
        _queue = new JobQueue(_db, signal, _ledger, new MergeSignal(), NullLogger<JobQueue>.Instance);
        _identities.Create("alice", Roles.Researcher);
        _identities.Create("st-1", Roles.Station);
        _identities.Create("st-2", Roles.Station);
        (_alice, _station, _other) = (_identities.FindByName("alice")!, _identities.FindByName("st-1")!, _identities.FindByName("st-2")!);
        _train = new TrainCatalog(_db, _ledger).Register(_alice, "alice/stats", "sha256:aa", Manifest).Train;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static StatisticsResult Patients(double n) => new() { Statistics = { ["patients"] = new StatisticValue { Kind = "count", Value = n } } };

    [Fact]
    public async Task Stations_get_only_their_own_jobs_and_results_are_pooled_when_the_round_closes()
    {
        var runId = _runs.Create(_alice, _train, [_station.Id, _other.Id], 1, new());
        var a = (await _queue.NextAsync(_station, TimeSpan.Zero, default))!;
        var b = (await _queue.NextAsync(_other, TimeSpan.Zero, default))!;
        Assert.NotEqual(a.JobId, b.JobId);

        // Reporting someone else's job is "not found", not a way to learn it exists.
        Assert.Equal(JobReportOutcome.NotFound, _queue.Complete(_station, b.JobId, new JobResultUpload(Patients(1), new())).Outcome);
        Assert.Equal(JobReportOutcome.Accepted, _queue.Complete(_other, b.JobId, new JobResultUpload(Patients(5), new())).Outcome);
        Assert.Equal(RunStates.Running, _runs.Find(runId, _alice)!.State);
        Assert.Equal(JobReportOutcome.Accepted, _queue.Fail(_station, a.JobId, new JobFailureReport("run", "the train exited with code 3", 3, "boom")));
        Assert.Equal(JobReportOutcome.Conflict, _queue.Fail(_station, a.JobId, new JobFailureReport("run", "again")));

        var run = _runs.Find(runId, _alice)!;
        Assert.Equal(RunStates.Completed, run.State);
        Assert.Equal("run: the train exited with code 3", run.Jobs.Single(j => j.Station == "st-1").Error);
        var pooled = _runs.Results(runId, _alice)!.Rounds.Single().Pooled!;
        Assert.Equal(["st-2"], pooled.Stations);
        Assert.Equal(5, pooled.Statistics.Single().Value);

        // Every step is in the ledger, in order, by the identity that acted.
        var head = _ledger.Head();
        var entries = _ledger.Entries(0, (int)head.TreeSize).Select(r => LedgerEntry.Parse(r.Leaf)).ToList();
        Assert.Equal(
            [(LedgerKinds.TrainSubmitted, "alice"), (LedgerKinds.RunCreated, "alice"), (LedgerKinds.JobDispatched, "hub"), (LedgerKinds.JobDispatched, "hub"),
             (LedgerKinds.ResultUploaded, "st-2"), (LedgerKinds.JobExecuted, "st-1"), (LedgerKinds.MergeCompleted, "hub")],
            entries.Select(e => (e.Kind, e.Actor)));
        Assert.Equal($"run/{runId}/round/1", entries[^1].Subject);
        Assert.StartsWith("sha256:", (string)entries[^1].Payload["results"]!["st-2"]!);
    }

    [Fact]
    public async Task A_station_s_suppression_is_named_in_its_result_entry_and_pooled_as_a_lower_bound()
    {
        var runId = _runs.Create(_alice, _train, [_station.Id, _other.Id], 1, new());
        var a = (await _queue.NextAsync(_station, TimeSpan.Zero, default))!;
        var b = (await _queue.NextAsync(_other, TimeSpan.Zero, default))!;
        var withheld = new StatisticsResult
        {
            Statistics = { ["patients"] = new StatisticValue { Kind = "count", Suppressed = ["value"] } },
            Disclosure = new StatisticsDisclosure(5, 1),
        };
        var released = Patients(40) with { Disclosure = new StatisticsDisclosure(5, 0) };

        Assert.Equal(JobReportOutcome.Accepted, _queue.Complete(_station, a.JobId, new JobResultUpload(withheld, new())).Outcome);
        Assert.Equal(JobReportOutcome.Accepted, _queue.Complete(_other, b.JobId, new JobResultUpload(released, new())).Outcome);

        var entries = _ledger.Entries(0, (int)_ledger.Head().TreeSize).Select(r => LedgerEntry.Parse(r.Leaf)).ToList();
        var upload = entries.Single(e => e.Kind == LedgerKinds.ResultUploaded && e.Actor == "st-1");
        Assert.Equal((5, 1), (upload.Payload["suppression"]!["minCellCount"]!.GetValue<int>(), upload.Payload["suppression"]!["suppressedCells"]!.GetValue<int>()));
        Assert.Equal(0, entries.Single(e => e.Kind == LedgerKinds.ResultUploaded && e.Actor == "st-2").Payload["suppression"]!["suppressedCells"]!.GetValue<int>());
        var pooled = _runs.Results(runId, _alice)!.Rounds.Single().Pooled!;
        var patients = pooled.Statistics.Single();
        Assert.Equal((41.0, 1), (patients.Value!.Value, patients.Suppressed!["value"]));
        Assert.Equal([new StationSuppression("st-1", 5, 1), new StationSuppression("st-2", 5, 0)], pooled.Disclosure!);
    }

    [Fact]
    public async Task A_result_marked_suppressed_without_the_station_s_record_is_refused()
    {
        _runs.Create(_alice, _train, [_station.Id], 1, new());
        var job = (await _queue.NextAsync(_station, TimeSpan.Zero, default))!;
        var unrecorded = new StatisticsResult { Statistics = { ["patients"] = new StatisticValue { Kind = "count", Suppressed = ["value"] } } };

        var (outcome, errors) = _queue.Complete(_station, job.JobId, new JobResultUpload(unrecorded, new()));

        Assert.Equal(JobReportOutcome.Refused, outcome);
        Assert.Contains(errors, e => e.Path == "$.disclosure");
    }

    [Fact]
    public void Any_parameter_value_can_be_recorded_in_the_ledger()
    {
        // Canonical JSON holds only numbers a double represents exactly; a run's parameters may be any integer.
        var runId = _runs.Create(_alice, _train, [_station.Id], 1, new System.Text.Json.Nodes.JsonObject { ["limit"] = long.MaxValue });
        var created = _ledger.Entries(0, 10).Select(r => LedgerEntry.Parse(r.Leaf)).Single(e => e.Kind == LedgerKinds.RunCreated);
        Assert.Equal($"run/{runId}", created.Subject);
        Assert.Contains("9223372036854775807", (string)created.Payload["parameters"]!);
    }

    [Fact]
    public async Task A_result_that_breaks_the_manifest_fails_the_job_at_the_hub()
    {
        _runs.Create(_alice, _train, [_station.Id], 1, new());
        var job = (await _queue.NextAsync(_station, TimeSpan.Zero, default))!;
        var (outcome, errors) = _queue.Complete(_station, job.JobId, new JobResultUpload(Patients(2.5), new()));
        Assert.Equal(JobReportOutcome.Refused, outcome);
        Assert.Contains(errors, e => e.Path == "$.statistics.patients.value");
    }

    [Fact]
    public async Task A_job_lost_by_its_station_is_handed_out_again_then_failed_after_three_attempts()
    {
        var runId = _runs.Create(_alice, _train, [_station.Id], 1, new());
        var first = (await _queue.NextAsync(_station, TimeSpan.Zero, default))!;
        // The station asks again without reporting: it lost the job (restart, dropped answer).
        var second = (await _queue.NextAsync(_station, TimeSpan.Zero, default))!;
        var third = (await _queue.NextAsync(_station, TimeSpan.Zero, default))!;
        Assert.Equal(first.JobId, second.JobId);
        Assert.Equal(first.JobId, third.JobId);
        Assert.Equal(3, _runs.Find(runId, _alice)!.Jobs.Single().Attempts);

        Assert.Null(await _queue.NextAsync(_station, TimeSpan.Zero, default));
        var run = _runs.Find(runId, _alice)!;
        Assert.Equal(RunStates.Failed, run.State);
        Assert.Equal("station: the job was lost 3 times before a result arrived", run.Jobs.Single().Error);
    }

    [Fact]
    public async Task A_waiting_station_wakes_when_a_job_is_queued()
    {
        var waiting = _queue.NextAsync(_station, TimeSpan.FromSeconds(30), default);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        _runs.Create(_alice, _train, [_station.Id], 1, new());
        var job = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.NotNull(job);
    }

    [Fact]
    public async Task A_result_held_for_release_keeps_the_job_for_its_station_until_released_or_the_wait_runs_out()
    {
        var runId = _runs.Create(_alice, _train, [_station.Id, _other.Id], 1, new());
        var held = (await _queue.NextAsync(_station, TimeSpan.Zero, default))!;
        var lapsed = (await _queue.NextAsync(_other, TimeSpan.Zero, default))!;
        // Only a running job's result can be held: the train must have run.
        Assert.Equal(JobReportOutcome.Conflict, _queue.MarkAwaitingRelease(_station, held.JobId, new JobAwaitingRelease("held", 60)));
        Assert.Equal(JobReportOutcome.NotFound, _queue.MarkAwaitingRelease(_other, held.JobId, new JobAwaitingRelease("held", 60)));
        Assert.Equal(JobReportOutcome.Accepted, _queue.MarkStarted(_station, held.JobId));
        Assert.Equal(JobReportOutcome.Accepted, _queue.MarkStarted(_other, lapsed.JobId));
        Assert.Equal(JobReportOutcome.Accepted, _queue.MarkAwaitingRelease(_station, held.JobId, new JobAwaitingRelease("the operator checks the counts", 3600)));
        Assert.Equal(JobReportOutcome.Accepted, _queue.MarkAwaitingRelease(_other, lapsed.JobId, new JobAwaitingRelease("held", 1)));

        // Asking for more work while a result waits is not losing the job.
        Assert.Null(await _queue.NextAsync(_station, TimeSpan.Zero, default));
        var job = _runs.Find(runId, _alice)!.Jobs.Single(j => j.Id == held.JobId);
        Assert.Equal(JobStates.AwaitingRelease, job.State);
        Assert.Equal("release: the operator checks the counts", job.Error);

        await Task.Delay(1100);
        Assert.Equal(1, _queue.SweepExpiredLeases());
        Assert.Equal(JobReportOutcome.Accepted, _queue.Complete(_station, held.JobId, new JobResultUpload(Patients(4), new())).Outcome);
        var run = _runs.Find(runId, _alice)!;
        Assert.Equal(JobStates.Succeeded, run.Jobs.Single(j => j.Id == held.JobId).State);
        Assert.StartsWith("release: the station's operator did not release", run.Jobs.Single(j => j.Id == lapsed.JobId).Error);
        Assert.Equal(RunStates.Completed, run.State);
    }
}
