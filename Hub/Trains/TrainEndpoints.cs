using System.Text.Json;
using Dapper;
using System.Text.Json.Nodes;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Hub.Registry;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Trains;

/// <summary>Researchers submit pushed images as trains; the hub reads the manifest from the image itself.</summary>
public static class TrainEndpoints
{
    public static void MapTrainEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/trains").RequireAuthorization(Roles.Researcher);
        group.MapPost("", SubmitAsync);
        group.MapGet("", (HttpContext http, TrainCatalog catalog) => catalog.List(http.User.Caller()));
        group.MapGet("/{id:long}", (long id, HttpContext http, TrainCatalog catalog) =>
            catalog.Find(id, http.User.Caller()) is { } train ? Results.Ok(train) : Results.NotFound(new ApiError($"no train {id}")));
    }

    private static async Task<IResult> SubmitAsync(TrainSubmission submission, HttpContext http, RegistryClient registry, TrainCatalog catalog, CancellationToken ct)
    {
        var caller = http.User.Caller();
        var repository = submission.Repository?.Trim('/') ?? "";
        if (caller.Role != Roles.Operator && !repository.StartsWith(caller.Name + "/", StringComparison.Ordinal))
            return Results.BadRequest(new ApiError($"'{repository}' is outside your namespace '{caller.Name}/'"));
        if (!RegistryNames.IsRepository(repository))
            return Results.BadRequest(new ApiError($"'{repository}' is not a registry repository name (lower-case path components of letters and digits with '.', '_', '__' or '-' between)"));
        if (!RegistryNames.IsReference(submission.Reference ?? ""))
            return Results.BadRequest(new ApiError($"'{submission.Reference}' is neither a tag nor a sha256:<64 hex> digest"));

        RegistryImage image;
        try
        {
            image = await registry.ReadImageAsync(repository, submission.Reference!, ct);
        }
        catch (RegistryImageException e)
        {
            return Results.BadRequest(new ApiError(e.Message));
        }
        catch (RegistryUnavailableException e)
        {
            return Results.Json(new ApiError(e.Message), statusCode: StatusCodes.Status502BadGateway);
        }
        image.Labels.TryGetValue(TrainManifest.LabelKey, out var manifestJson);
        var (manifest, errors) = ManifestValidator.Parse(manifestJson);
        if (manifest is null)
            return Results.BadRequest(new ApiError($"{repository}@{image.Digest} has an invalid train manifest", errors));
        var expectedName = repository[(repository.LastIndexOf('/') + 1)..];
        if (manifest.Name != expectedName)
            return Results.BadRequest(new ApiError($"the manifest names the train '{manifest.Name}' but it was pushed as '{repository}'",
                [new("$.name", $"must be '{expectedName}' to match the repository")]));

        return catalog.Register(caller, repository, image.Digest, manifest) switch
        {
            (TrainInfo train, true) => Results.Created($"/api/trains/{train.Id}", train),
            (TrainInfo train, false) when train.Digest == image.Digest => Results.Ok(train),
            (TrainInfo train, _) => Results.Conflict(new ApiError(
                $"{repository} version {manifest.Version} is already registered with digest {train.Digest}; give the new image a new version")),
        };
    }
}

/// <summary>The hub's record of submitted trains.</summary>
public sealed class TrainCatalog(HubDatabase db, LedgerStore ledger)
{
    private const string Select = """
        SELECT t.id, i.name AS owner, t.repository, t.name, t.version, t.digest, t.kind, t.manifest_json, t.submitted_at
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
            INSERT INTO trains (owner_id, repository, name, version, digest, kind, manifest_json, submitted_at)
            VALUES (@owner, @repository, @name, @version, @digest, @kind, @json, @now)
            """,
            new { owner = owner.Id, repository, name = manifest.Name, version = manifest.Version, digest, kind = manifest.Kind,
                  json = JsonSerializer.Serialize(manifest, ProtocolJson.Options), now = DateTimeOffset.UtcNow }, tx);
        var created = c.QuerySingle<TrainRow>(Select + " WHERE t.repository = @repository AND t.version = @version",
            new { repository, version = manifest.Version }, tx);
        ledger.Record(c, tx, LedgerKinds.TrainSubmitted, owner.Name, $"train/{created.Id}", new JsonObject
        {
            ["repository"] = repository, ["version"] = manifest.Version, ["digest"] = digest, ["kind"] = manifest.Kind,
        });
        tx.Commit();
        return (created.ToInfo(), true);
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

    private sealed record TrainRow(long Id, string Owner, string Repository, string Name, string Version, string Digest, string Kind, string Manifest_Json, DateTimeOffset Submitted_At)
    {
        public TrainInfo ToInfo() => new(Id, Owner, Repository, Name, Version, Digest, Kind,
            JsonSerializer.Deserialize<TrainManifest>(Manifest_Json, ProtocolJson.Options)!, Submitted_At);
    }
}
