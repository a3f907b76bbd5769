using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Merging;
using HealthTrain.Hub.Models;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Hub.Runs;

/// <summary>Wakes the <see cref="RoundMerger"/> when a training round's last job ends.</summary>
public sealed class MergeSignal
{
    private readonly JobSignal inner = new();
    public void Notify() => inner.Notify();
    public Task Next => inner.Next;
}

/// <summary>
/// Merges training rounds: every round in the <c>merging</c> state — just closed, or left so by a hub that stopped —
/// is merged from the accepted updates with the run's strategy, stored as a content-addressed model version with its
/// lineage, and the next round is opened from it (or the run completes), in one transaction. A round is merged once:
/// the version is keyed by run and round, and the round leaves <c>merging</c> only in that transaction.
/// </summary>
public sealed class RoundMerger(HubDatabase db, ModelFiles files, LedgerStore ledger, JobSignal jobs, MergeSignal signal, ILogger<RoundMerger> log)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var next = signal.Next;
            foreach (var (runId, round) in Pending())
            {
                try
                {
                    MergeRound(runId, (int)round);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or SafeTensorsException)
                {
                    log.LogError(e, "run {Run} round {Round}: merge failed", runId, round);
                    Fail(runId, (int)round, "merge failed: " + e.Message);
                }
            }
            await JobSignal.WaitAsync(next, TimeSpan.FromSeconds(5), ct);
        }
    }

    private IReadOnlyList<(long RunId, long Round)> Pending()
    {
        using var c = db.Open();
        return c.Query<(long, long)>("SELECT run_id, number FROM rounds WHERE state = @merging ORDER BY run_id, number", new { merging = RoundStates.Merging }).AsList();
    }

    /// <summary>Merges one round now (also used by tests).</summary>
    public void MergeRound(long runId, int round)
    {
        using var c = db.Open();
        var run = c.QuerySingle<(string Training, string Manifest, long Rounds, string? ModelDigest)>("""
            SELECT r.training_json, t.manifest_json, r.rounds, rd.model_digest FROM runs r JOIN trains t ON t.id = r.train_id
            JOIN rounds rd ON rd.run_id = r.id AND rd.number = @round WHERE r.id = @runId
            """, new { runId, round });
        var settings = JsonSerializer.Deserialize<TrainingSettings>(run.Training, ProtocolJson.Api)!;
        var manifest = JsonSerializer.Deserialize<TrainManifest>(run.Manifest, ProtocolJson.Options)!;
        var stations = c.Query<long>("SELECT station_id FROM jobs WHERE run_id = @runId AND round = @round ORDER BY station_id", new { runId, round }).AsList();
        var contributions = c.Query<(string Station, long JobId, string Digest, string Payload)>("""
            SELECT s.name, j.id, res.digest, res.payload_json FROM jobs j JOIN results res ON res.job_id = j.id JOIN identities s ON s.id = j.station_id
            WHERE j.run_id = @runId AND j.round = @round AND j.state = @succeeded ORDER BY s.name
            """, new { runId, round, succeeded = JobStates.Succeeded })
            .Select(r => (r.Station, r.JobId, r.Digest, Update: JsonSerializer.Deserialize<ModelUpdateSummary>(r.Payload, ProtocolJson.Api)!))
            .ToList();
        var quorum = RoundStrategy.Quorum(settings, stations.Count);
        if (contributions.Count < quorum)
        {
            Fail(runId, round, $"quorum: {contributions.Count} of {stations.Count} stations contributed, {quorum} needed");
            return;
        }

        var strategy = RoundStrategy.Of(settings);
        var previousState = files.StatePath(runId, round - 1);
        var request = new MergeRequest
        {
            Strategy = strategy,
            Tensors = manifest.Outputs.Tensors,
            Updates = [.. contributions.Select(x => new ModelUpdate(x.Station, files.UpdatePath(x.JobId), x.Update.Samples))],
            Round = round,
            GlobalModelPath = run.ModelDigest is null ? null : files.ModelPath(run.ModelDigest),
            StatePath = strategy.Name == MergeStrategy.FedAdamName && File.Exists(previousState) ? previousState : null,
        };
        var temporary = files.TemporaryPath();
        var stateTemporary = strategy.Name == MergeStrategy.FedAdamName ? files.TemporaryPath() : null;
        try
        {
            using (var output = File.Create(temporary))
            using (var stateOutput = stateTemporary is null ? null : File.Create(stateTemporary))
                new ModelMerger().Merge(request, output, stateOutput);
        }
        catch (ModelMergeException e)
        {
            File.Delete(temporary);
            if (stateTemporary is not null) File.Delete(stateTemporary);
            Fail(runId, round, e.Message);
            return;
        }
        var digest = files.Keep(temporary);
        if (stateTemporary is not null) File.Move(stateTemporary, files.StatePath(runId, round), overwrite: true);

        var samples = contributions.Sum(x => x.Update.Samples);
        var metrics = WeightedMetrics(contributions.Select(x => x.Update));
        var contributors = contributions.Select(x => new ModelContribution(x.Station, x.JobId, x.Digest, x.Update.Samples, x.Update.Metrics)).ToList();
        var now = DateTimeOffset.UtcNow;
        using var tx = c.BeginTransaction();
        // Only the transaction that takes the round out of merging records it: a second merger (or a restart) finds it done.
        if (c.Execute("UPDATE rounds SET state = @completed, finished_at = @now WHERE run_id = @runId AND number = @round AND state = @merging",
                new { completed = RoundStates.Completed, merging = RoundStates.Merging, now, runId, round }, tx) == 0)
            return;
        var versionId = c.QuerySingle<long>("""
            INSERT INTO model_versions (digest, run_id, round, parent_digest, strategy_json, contributors_json, metrics_json, samples, created_at)
            VALUES (@digest, @runId, @round, @parent, @strategy, @contributors, @metrics, @samples, @now) RETURNING id
            """, new
        {
            digest, runId, round, parent = run.ModelDigest, strategy = JsonSerializer.Serialize(strategy, ProtocolJson.Api),
            contributors = JsonSerializer.Serialize(contributors, ProtocolJson.Api), metrics = JsonSerializer.Serialize(metrics, ProtocolJson.Api), samples, now,
        }, tx);
        var merged = new JsonObject();
        foreach (var x in contributions) merged[x.Station] = x.Digest;
        ledger.Record(c, tx, LedgerKinds.MergeCompleted, "hub", $"run/{runId}/round/{round}", new JsonObject
        {
            ["results"] = merged, ["strategy"] = strategy.Name, ["model"] = digest,
        });
        ledger.Record(c, tx, LedgerKinds.ModelVersioned, "hub", $"model/{versionId}", new JsonObject
        {
            ["digest"] = digest, ["parent"] = run.ModelDigest, ["run"] = $"run/{runId}", ["round"] = round,
        });
        if (round < run.Rounds)
        {
            RunStore.QueueRound(c, tx, runId, round + 1, stations, now, settings.RoundDeadlineSeconds, digest);
            c.Execute("UPDATE runs SET current_round = @next WHERE id = @runId", new { next = round + 1, runId }, tx);
        }
        else
            c.Execute("UPDATE runs SET state = @completed, finished_at = @now WHERE id = @runId", new { completed = RunStates.Completed, now, runId }, tx);
        tx.Commit();
        jobs.Notify();
        log.LogInformation("run {Run} round {Round}: {Strategy} over {Count} updates → model {Digest}", runId, round, strategy.Name, contributions.Count, digest);
    }

    /// <summary>Each metric averaged over the stations that reported it, weighted by their samples.</summary>
    private static Dictionary<string, double> WeightedMetrics(IEnumerable<ModelUpdateSummary> updates)
    {
        var sums = new Dictionary<string, (double Sum, double Weight)>(StringComparer.Ordinal);
        foreach (var u in updates)
            foreach (var (name, value) in u.Metrics)
            {
                var (sum, weight) = sums.GetValueOrDefault(name);
                sums[name] = (sum + value * u.Samples, weight + u.Samples);
            }
        return sums.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary(kv => kv.Key, kv => kv.Value.Sum / kv.Value.Weight);
    }

    private void Fail(long runId, int round, string error)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        JobQueue.FailRound(c, tx, runId, round, error, DateTimeOffset.UtcNow, log);
        tx.Commit();
    }
}
