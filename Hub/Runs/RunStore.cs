using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Hub.Runs;

/// <summary>Creates runs and reads them back with their rounds, jobs and pooled results.</summary>
public sealed class RunStore(HubDatabase db, JobSignal signal, LedgerStore ledger)
{
    /// <summary>Creates the run, its first round and one queued job per station, in one transaction.</summary>
    public long Create(Caller owner, TrainInfo train, IReadOnlyList<long> stationIds, int rounds, JsonObject parameters, TrainingSettings? training = null)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var now = DateTimeOffset.UtcNow;
        var runId = c.QuerySingle<long>("""
            INSERT INTO runs (train_id, owner_id, state, rounds, current_round, parameters_json, created_at, training_json)
            VALUES (@train, @owner, @state, @rounds, 1, @parameters, @now, @training) RETURNING id
            """, new { train = train.Id, owner = owner.Id, state = RunStates.Running, rounds, parameters = parameters.ToJsonString(), now,
                       training = training is null ? null : JsonSerializer.Serialize(training, ProtocolJson.Api) }, tx);
        QueueRound(c, tx, runId, 1, stationIds, now, training?.RoundDeadlineSeconds, modelDigest: null);
        var stations = c.Query<string>("SELECT name FROM identities WHERE id IN @stationIds ORDER BY name", new { stationIds }, tx);
        ledger.Record(c, tx, LedgerKinds.RunCreated, owner.Name, $"run/{runId}", new JsonObject
        {
            ["train"] = $"train/{train.Id}", ["digest"] = train.Digest, ["rounds"] = rounds,
            ["stations"] = new JsonArray([.. stations.Select(s => (JsonNode)s)]),
            // As text: canonical JSON refuses numbers a double cannot hold exactly, and parameters may be any integer.
            ["parameters"] = parameters.ToJsonString(),
            ["training"] = training is null ? null : JsonSerializer.Serialize(training, ProtocolJson.Api),
        });
        tx.Commit();
        signal.Notify();
        return runId;
    }

    /// <summary>Opens a round (with its deadline and the global model it starts from) and queues one job per station.</summary>
    internal static void QueueRound(SqliteConnection c, SqliteTransaction tx, long runId, int round, IEnumerable<long> stationIds, DateTimeOffset now,
        int? deadlineSeconds = null, string? modelDigest = null)
    {
        c.Execute("INSERT INTO rounds (run_id, number, state, started_at, deadline_at, model_digest) VALUES (@runId, @round, 'open', @now, @deadline, @modelDigest)",
            new { runId, round, now, deadline = deadlineSeconds is { } s ? now + TimeSpan.FromSeconds(s) : (DateTimeOffset?)null, modelDigest }, tx);
        foreach (var station in stationIds)
            c.Execute("INSERT INTO jobs (run_id, round, station_id, state) VALUES (@runId, @round, @station, @state)",
                new { runId, round, station, state = JobStates.Queued }, tx);
    }

    /// <summary>A run, if the caller may see it: its owner, or an operator.</summary>
    public RunInfo? Find(long id, Caller caller)
    {
        using var c = db.Open();
        var run = c.QuerySingleOrDefault<RunRow>("""
            SELECT r.id, r.train_id, t.repository || ':' || t.version AS train, i.name AS owner, r.state, r.rounds, r.current_round,
                   r.parameters_json, r.created_at, r.finished_at
            FROM runs r JOIN trains t ON t.id = r.train_id JOIN identities i ON i.id = r.owner_id
            WHERE r.id = @id AND (@all OR r.owner_id = @owner)
            """, new { id, all = caller.Role == Roles.Operator, owner = caller.Id });
        if (run is null) return null;
        var jobs = c.Query<JobRow>("""
            SELECT j.id, j.round, s.name AS station, j.state, j.attempts, j.error, j.exit_code, j.log_tail, j.timings_json,
                   res.digest AS result_digest, j.claimed_at, j.started_at, j.finished_at, j.inputs_json
            FROM jobs j JOIN identities s ON s.id = j.station_id LEFT JOIN results res ON res.job_id = j.id
            WHERE j.run_id = @id ORDER BY j.round, s.name
            """, new { id }).Select(j => j.ToInfo()).ToList();
        return run.ToInfo(jobs);
    }

    public IReadOnlyList<RunInfo> List(Caller caller)
    {
        using var c = db.Open();
        var ids = c.Query<long>("SELECT id FROM runs WHERE @all OR owner_id = @owner ORDER BY id",
            new { all = caller.Role == Roles.Operator, owner = caller.Id });
        return ids.Select(id => Find(id, caller)!).ToList();
    }

    /// <summary>Pooled statistics of each round of a run the caller may see.</summary>
    public RunResults? Results(long id, Caller caller)
    {
        using var c = db.Open();
        var state = c.QuerySingleOrDefault<string>("SELECT state FROM runs WHERE id = @id AND (@all OR owner_id = @owner)",
            new { id, all = caller.Role == Roles.Operator, owner = caller.Id });
        if (state is null) return null;
        var rounds = c.Query<(long Number, string State, string? Pooled, string? Error)>(
                "SELECT number, state, pooled_json, error FROM rounds WHERE run_id = @id ORDER BY number", new { id })
            .Select(r => new RoundResult((int)r.Number, r.State,
                r.Pooled is null ? null : JsonSerializer.Deserialize<PooledStatistics>(r.Pooled, ProtocolJson.Options), r.Error))
            .ToList();
        return new RunResults(id, state, rounds);
    }

    private sealed record RunRow(long Id, long Train_Id, string Train, string Owner, string State, long Rounds, long Current_Round,
        string Parameters_Json, DateTimeOffset Created_At, DateTimeOffset? Finished_At)
    {
        public RunInfo ToInfo(IReadOnlyList<JobInfo> jobs) => new(Id, Train_Id, Train, Owner, State, (int)Rounds, (int)Current_Round,
            JsonNode.Parse(Parameters_Json)!.AsObject(), Created_At, Finished_At, jobs);
    }

    private sealed record JobRow(long Id, long Round, string Station, string State, long Attempts, string? Error, long? Exit_Code,
        string? Log_Tail, string? Timings_Json, string? Result_Digest, DateTimeOffset? Claimed_At, DateTimeOffset? Started_At, DateTimeOffset? Finished_At, string? Inputs_Json)
    {
        public JobInfo ToInfo() => new(Id, (int)Round, Station, State, (int)Attempts, Error, (int?)Exit_Code, Log_Tail,
            Timings_Json is null ? null : JsonSerializer.Deserialize<JobTimings>(Timings_Json, ProtocolJson.Options),
            Result_Digest, Claimed_At, Started_At, Finished_At,
            Inputs_Json is null ? null : JsonSerializer.Deserialize<List<JobInputSummary>>(Inputs_Json, ProtocolJson.Options));
    }
}
