using System.Text.Json;
using Dapper;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Models;

/// <summary>Reads the merged model versions with their lineage; a researcher sees those of their own runs, an operator all.</summary>
public sealed class ModelVersions(HubDatabase db)
{
    private const string Select = """
        SELECT m.id, m.digest, m.run_id, m.round, t.repository || ':' || t.version AS train, m.parent_digest, m.strategy_json,
               m.contributors_json, m.samples, m.metrics_json, m.created_at
        FROM model_versions m JOIN runs r ON r.id = m.run_id JOIN trains t ON t.id = r.train_id
        """;

    public IReadOnlyList<ModelVersionInfo> List(Caller caller, long? runId)
    {
        using var c = db.Open();
        return c.Query<Row>(Select + " WHERE (@all OR r.owner_id = @me) AND (@runId IS NULL OR m.run_id = @runId) ORDER BY m.run_id, m.round",
            new { all = caller.Role == Roles.Operator, me = caller.Id, runId }).Select(r => r.ToInfo()).ToList();
    }

    /// <summary>A version by digest (the latest one with that content), or by <c>RUN/ROUND</c>.</summary>
    public ModelVersionInfo? Find(Caller caller, string reference)
    {
        using var c = db.Open();
        var parts = reference.Split('/');
        var byRound = parts.Length == 2 && long.TryParse(parts[0], out var run) && int.TryParse(parts[1], out var round);
        return c.QueryFirstOrDefault<Row>(Select + """
             WHERE (@all OR r.owner_id = @me) AND ((@byRound AND m.run_id = @run AND m.round = @round) OR (NOT @byRound AND m.digest = @reference))
             ORDER BY m.id DESC
            """, new { all = caller.Role == Roles.Operator, me = caller.Id, byRound, run = byRound ? long.Parse(parts[0]) : 0,
                       round = byRound ? int.Parse(parts[1]) : 0, reference })?.ToInfo();
    }

    // Settable members: Dapper maps them by name, whatever type SQLite reports for computed columns of an empty result.
    private sealed class Row
    {
        public long Id { get; set; }
        public string Digest { get; set; } = "";
        public long Run_Id { get; set; }
        public long Round { get; set; }
        public string Train { get; set; } = "";
        public string? Parent_Digest { get; set; }
        public string Strategy_Json { get; set; } = "";
        public string Contributors_Json { get; set; } = "";
        public long Samples { get; set; }
        public string Metrics_Json { get; set; } = "";
        public DateTimeOffset Created_At { get; set; }

        public ModelVersionInfo ToInfo() => new(Id, Digest, Run_Id, (int)Round, Train, Parent_Digest,
            JsonDocument.Parse(Strategy_Json).RootElement.GetProperty("name").GetString()!,
            JsonSerializer.Deserialize<List<ModelContribution>>(Contributors_Json, ProtocolJson.Api)!, Samples,
            JsonSerializer.Deserialize<Dictionary<string, double>>(Metrics_Json, ProtocolJson.Api)!, Created_At);
    }
}
