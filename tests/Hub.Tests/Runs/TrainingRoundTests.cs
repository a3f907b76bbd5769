using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Models;
using HealthTrain.Hub.Runs;
using HealthTrain.Hub.Storage;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.Hub.Tests.Runs;

/// <summary>Training rounds at the hub: updates in, a merged, versioned model out, and the next round starting from it.</summary>
public sealed class TrainingRoundTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-rounds-").FullName;
    private readonly HubDatabase _db;
    private readonly RunStore _runs;
    private readonly JobQueue _queue;
    private readonly RoundMerger _merger;
    private readonly ModelFiles _files;
    private readonly ModelVersions _versions;
    private readonly Caller _alice;
    private readonly Caller[] _stations;
    private readonly TrainInfo _train;

    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"format":1,"name":"model","version":"1","authors":["a"],"kind":"training",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"tensors":[{"name":"w","shape":[3],"dtype":"float32"}]}}
        """);

    public TrainingRoundTests()
    {
        _db = new HubDatabase(Path.Combine(_dir, "hub.db"));
        _db.Migrate();
        var identities = new Identities(_db);
        var signal = new JobSignal();
        var ledger = new LedgerStore(_db, LedgerSigner.FromKey(System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256)));
        _runs = new RunStore(_db, signal, ledger);
        var merges = new MergeSignal();
        _queue = new JobQueue(_db, signal, ledger, merges, NullLogger<JobQueue>.Instance);
        _files = new ModelFiles(new HubOptions { DataDir = _dir });
        _versions = new ModelVersions(_db);
        _merger = new RoundMerger(_db, _files, ledger, signal, merges, NullLogger<RoundMerger>.Instance);
        identities.Create("alice", Roles.Researcher);
        foreach (var s in new[] { "st-1", "st-2", "st-3" }) identities.Create(s, Roles.Station);
        _alice = identities.FindByName("alice")!;
        _stations = [identities.FindByName("st-1")!, identities.FindByName("st-2")!, identities.FindByName("st-3")!];
        _train = new TrainCatalog(_db, ledger).Register(_alice, "alice/model", "sha256:aa", Manifest).Train;
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private long Start(int rounds, TrainingSettings settings) =>
        _runs.Create(_alice, _train, [.. _stations.Select(s => s.Id)], rounds, new(), settings);

    /// <summary>A station trains: uploads its update (as the endpoint stores it) and reports the result.</summary>
    private async Task<JobAssignment> ContributeAsync(Caller station, float[] weights, long samples)
    {
        var job = (await _queue.NextAsync(station, TimeSpan.Zero, default))!;
        var bytes = SafeTensors.ToBytes([SafeTensors.Float32("w", [3], weights)]);
        var (digest, size) = await ModelFiles.ReceiveAsync(new MemoryStream(bytes), _files.UpdatePath(job.JobId), default);
        _queue.RecordUpdate(job.JobId, digest, size);
        var (outcome, errors) = _queue.Complete(station, job.JobId, new JobResultUpload(new StatisticsResult(), new())
        {
            Update = new ModelUpdateSummary(digest, samples, new Dictionary<string, double> { ["global_auroc"] = samples / 100.0 }),
        });
        Assert.True(outcome == JobReportOutcome.Accepted, string.Join("; ", errors));
        return job;
    }

    [Fact]
    public async Task Each_round_merges_into_a_versioned_model_the_next_round_starts_from()
    {
        var runId = Start(2, new TrainingSettings { Strategy = "fedavg", Seed = 7 });

        var first = await ContributeAsync(_stations[0], [1, 2, 3], 10);
        Assert.Equal(new JobTraining(2, "fedavg", null, 7, null), first.Training);
        await ContributeAsync(_stations[1], [3, 2, 1], 30);
        await ContributeAsync(_stations[2], [0, 0, 0], 60);
        _merger.MergeRound(runId, 1);

        var v1 = Assert.Single(_versions.List(_alice, runId));
        Assert.Equal(1, v1.Round);
        Assert.Null(v1.ParentDigest);
        Assert.Equal("fedavg", v1.Strategy);
        Assert.Equal(["st-1", "st-2", "st-3"], v1.Contributors.Select(c => c.Station));
        Assert.Equal(100, v1.Samples);
        Assert.Equal((10 * 0.1 + 30 * 0.3 + 60 * 0.6) / 100, v1.Metrics["global_auroc"], 12);
        var merged = File.ReadAllBytes(_files.ModelPath(v1.Digest));
        var header = SafeTensors.ReadHeader(merged);
        Assert.Equal(new[] { (1f * 10 + 3 * 30) / 100, 2f * 40 / 100, (3f * 10 + 1 * 30) / 100 }, SafeTensors.ReadFloat32(merged, header, "w"), (a, b) => Math.Abs(a - b) < 1e-6);

        // Round 2 hands out the merged model; merging it again (a restart) changes nothing.
        var second = (await _queue.NextAsync(_stations[0], TimeSpan.Zero, default))!;
        Assert.Equal(2, second.Round);
        Assert.Equal(v1.Digest, second.Training!.GlobalModelDigest);
        Assert.Equal((JobReportOutcome.Accepted, v1.Digest), _queue.GlobalModelOf(_stations[0], second.JobId));
        _merger.MergeRound(runId, 1);
        Assert.Single(_versions.List(_alice, runId));
    }

    [Fact]
    public async Task A_result_without_the_uploaded_update_is_refused_and_a_round_below_quorum_fails_the_run()
    {
        var runId = Start(1, new TrainingSettings { MinStations = 2 });
        var job = (await _queue.NextAsync(_stations[0], TimeSpan.Zero, default))!;
        var (outcome, errors) = _queue.Complete(_stations[0], job.JobId, new JobResultUpload(new StatisticsResult(), new())
        {
            Update = new ModelUpdateSummary("sha256:" + new string('1', 64), 5, new Dictionary<string, double>()),
        });
        Assert.Equal(JobReportOutcome.Refused, outcome);
        Assert.Equal("no model update was uploaded for this job", Assert.Single(errors).Message);

        await ContributeAsync(_stations[1], [1, 1, 1], 5);
        var last = (await _queue.NextAsync(_stations[2], TimeSpan.Zero, default))!;
        _queue.Fail(_stations[2], last.JobId, new JobFailureReport("run", "crashed"));
        _merger.MergeRound(runId, 1);

        var run = _runs.Find(runId, _alice)!;
        Assert.Equal(RunStates.Failed, run.State);
        Assert.Empty(_versions.List(_alice, runId));
        Assert.Contains("quorum: 1 of 3 stations contributed, 2 needed", _runs.Results(runId, _alice)!.Rounds.Single().Error);
    }

    [Fact]
    public async Task At_the_deadline_a_round_with_its_quorum_merges_without_the_stragglers()
    {
        var runId = Start(1, new TrainingSettings { MinFraction = 0.5, RoundDeadlineSeconds = 3600 });
        await ContributeAsync(_stations[0], [2, 2, 2], 5);
        await ContributeAsync(_stations[1], [4, 4, 4], 5);
        var straggler = (await _queue.NextAsync(_stations[2], TimeSpan.Zero, default))!;
        Assert.Equal(0, _queue.SweepRoundDeadlines());

        using (var c = _db.Open())
            Dapper.SqlMapper.Execute(c, "UPDATE rounds SET deadline_at = '2000-01-01T00:00:00.0000000Z'");
        Assert.Equal(1, _queue.SweepRoundDeadlines());
        _merger.MergeRound(runId, 1);

        var run = _runs.Find(runId, _alice)!;
        Assert.Equal(RunStates.Completed, run.State);
        Assert.StartsWith("straggler: round 1 closed at its deadline with 2 of 3 stations", run.Jobs.Single(j => j.Id == straggler.JobId).Error);
        Assert.Equal(["st-1", "st-2"], Assert.Single(_versions.List(_alice, runId)).Contributors.Select(c => c.Station));
    }
}
