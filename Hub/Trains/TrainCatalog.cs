using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Trains;

/// <summary>The hub's record of submitted trains and where each stands on the way to publication.</summary>
public sealed class TrainCatalog(HubDatabase db, LedgerStore ledger)
{
    private const string Select = """
        SELECT t.id, i.name AS owner, t.repository, t.name, t.version, t.digest, t.kind, t.manifest_json, t.submitted_at,
               t.state, t.checks_json, t.author_key_id, t.decided_by, t.decided_at, t.decision_reason, t.publication_key_id
        FROM trains t JOIN identities i ON i.id = t.owner_id
        """;

    /// <summary>Registers a train, or returns the one already registered for that repository and version (Created = false).</summary>
    public (TrainInfo Train, bool Created) Register(Caller owner, string repository, string digest, TrainManifest manifest)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var existing = c.QuerySingleOrDefault<TrainRow>(Select + " WHERE t.repository = @repository AND t.version = @version",
            new { repository, version = manifest.Version }, tx);
        if (existing is not null) return (existing.ToInfo(), false);
        c.Execute("""
            INSERT INTO trains (owner_id, repository, name, version, digest, kind, manifest_json, submitted_at, state)
            VALUES (@owner, @repository, @name, @version, @digest, @kind, @json, @now, @submitted)
            """,
            new { owner = owner.Id, repository, name = manifest.Name, version = manifest.Version, digest, kind = manifest.Kind,
                  json = JsonSerializer.Serialize(manifest, ProtocolJson.Options), now = DateTimeOffset.UtcNow, submitted = TrainStates.Submitted }, tx);
        var created = c.QuerySingle<TrainRow>(Select + " WHERE t.repository = @repository AND t.version = @version",
            new { repository, version = manifest.Version }, tx);
        ledger.Record(c, tx, LedgerKinds.TrainSubmitted, owner.Name, $"train/{created.Id}", new JsonObject
        {
            ["repository"] = repository, ["version"] = manifest.Version, ["digest"] = digest, ["kind"] = manifest.Kind,
        });
        tx.Commit();
        return (created.ToInfo(), true);
    }

    /// <summary>
    /// Stores the outcome of the hub's checks: <c>checked</c> when all passed, else back to <c>submitted</c>.
    /// A published or rejected train keeps its state (its checks are history).
    /// </summary>
    public TrainInfo RecordChecks(long id, IReadOnlyList<TrainCheck> checks, string? authorKeyId)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var passed = checks.All(k => k.Passed);
        c.Execute("""
            UPDATE trains SET checks_json = @checks, author_key_id = @authorKeyId,
                              state = CASE WHEN state IN (@published, @rejected) THEN state WHEN @passed THEN @checked ELSE @submitted END
            WHERE id = @id
            """, new { id, checks = JsonSerializer.Serialize(checks, ProtocolJson.Options), authorKeyId, passed,
                       published = TrainStates.Published, rejected = TrainStates.Rejected, @checked = TrainStates.Checked, submitted = TrainStates.Submitted }, tx);
        ledger.Record(c, tx, LedgerKinds.TrainChecked, "hub", $"train/{id}", new JsonObject
        {
            ["passed"] = passed,
            ["failed"] = new JsonArray([.. checks.Where(k => !k.Passed).Select(k => JsonValue.Create(k.Name))]),
            ["authorKey"] = authorKeyId,
        });
        var train = c.QuerySingle<TrainRow>(Select + " WHERE t.id = @id", new { id }, tx).ToInfo();
        tx.Commit();
        return train;
    }

    /// <summary>Records a publication (with the signature the hub attached) or a rejection.</summary>
    public TrainInfo Decide(long id, string state, string decidedBy, string? reason, string? publicationKeyId, JsonObject ledgerDetails)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        c.Execute("""
            UPDATE trains SET state = @state, decided_by = @decidedBy, decided_at = @now, decision_reason = @reason, publication_key_id = @publicationKeyId
            WHERE id = @id
            """, new { id, state, decidedBy, now = DateTimeOffset.UtcNow, reason, publicationKeyId }, tx);
        ledgerDetails["by"] = decidedBy;
        ledgerDetails["reason"] = reason;
        ledger.Record(c, tx, state == TrainStates.Published ? LedgerKinds.TrainPublished : LedgerKinds.TrainRejected,
            decidedBy == TrainPublication.PolicyActor ? "hub" : decidedBy, $"train/{id}", ledgerDetails);
        var train = c.QuerySingle<TrainRow>(Select + " WHERE t.id = @id", new { id }, tx).ToInfo();
        tx.Commit();
        return train;
    }

    /// <summary>A train, if the caller may see it: its owner, or an operator.</summary>
    public TrainInfo? Find(long id, Caller caller)
    {
        using var c = db.Open();
        var row = c.QuerySingleOrDefault<TrainRow>(Select + " WHERE t.id = @id AND (@all OR t.owner_id = @owner)",
            new { id, all = caller.Role == Roles.Operator, owner = caller.Id });
        return row?.ToInfo();
    }

    public IReadOnlyList<TrainInfo> List(Caller caller)
    {
        using var c = db.Open();
        return c.Query<TrainRow>(Select + " WHERE @all OR t.owner_id = @owner ORDER BY t.id",
            new { all = caller.Role == Roles.Operator, owner = caller.Id }).Select(r => r.ToInfo()).ToList();
    }

    private sealed record TrainRow(long Id, string Owner, string Repository, string Name, string Version, string Digest, string Kind, string Manifest_Json,
        DateTimeOffset Submitted_At, string State, string? Checks_Json, string? Author_Key_Id, string? Decided_By, DateTimeOffset? Decided_At,
        string? Decision_Reason, string? Publication_Key_Id)
    {
        public TrainInfo ToInfo() => new(Id, Owner, Repository, Name, Version, Digest, Kind,
            JsonSerializer.Deserialize<TrainManifest>(Manifest_Json, ProtocolJson.Options)!, Submitted_At)
        {
            State = State,
            Checks = Checks_Json is null ? [] : JsonSerializer.Deserialize<List<TrainCheck>>(Checks_Json, ProtocolJson.Options)!,
            AuthorKeyId = Author_Key_Id,
            DecidedBy = Decided_By,
            DecidedAt = Decided_At,
            DecisionReason = Decision_Reason,
            PublicationKeyId = Publication_Key_Id,
        };
    }
}
