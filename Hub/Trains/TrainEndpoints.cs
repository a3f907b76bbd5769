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

/// <summary>
/// Researchers submit pushed images as trains (the hub reads the manifest from the image itself and checks the image);
/// operators publish or reject them.
/// </summary>
public static class TrainEndpoints
{
    public static void MapTrainEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/trains").RequireAuthorization(Roles.Researcher);
        group.MapPost("", SubmitAsync);
        group.MapGet("", (HttpContext http, TrainCatalog catalog) => catalog.List(http.User.Caller()));
        group.MapGet("/{id:long}", (long id, HttpContext http, TrainCatalog catalog) =>
            catalog.Find(id, http.User.Caller()) is { } train ? Results.Ok(train) : Results.NotFound(new ApiError($"no train {id}")));
        // Checks run again on request: after the author signed, or registered the key they signed with.
        group.MapPost("/{id:long}/check", async (long id, HttpContext http, TrainCatalog catalog, TrainPublication publication, CancellationToken ct) =>
            catalog.Find(id, http.User.Caller()) is not { } train
                ? Results.NotFound(new ApiError($"no train {id}"))
                : await RegistryCallAsync(async () => Results.Ok(await publication.CheckAsync(train, http.Request.Host.Value ?? "", ct))));
        group.MapPost("/{id:long}/publish", async (long id, TrainDecision? decision, HttpContext http, TrainCatalog catalog, TrainPublication publication, CancellationToken ct) =>
        {
            var caller = http.User.Caller();
            if (catalog.Find(id, caller) is not { } train) return Results.NotFound(new ApiError($"no train {id}"));
            try
            {
                return await RegistryCallAsync(async () => Results.Ok(await publication.PublishAsync(train, caller.Name, decision?.Reason, http.Request.Host.Value ?? "", ct)));
            }
            catch (InvalidOperationException e)
            {
                return Results.Conflict(new ApiError(e.Message));
            }
        }).RequireAuthorization(Roles.Operator);
        group.MapPost("/{id:long}/reject", (long id, TrainDecision decision, HttpContext http, TrainCatalog catalog, TrainPublication publication) =>
        {
            var caller = http.User.Caller();
            if (catalog.Find(id, caller) is not { } train) return Results.NotFound(new ApiError($"no train {id}"));
            if (string.IsNullOrWhiteSpace(decision.Reason)) return Results.BadRequest(new ApiError("a rejection needs a reason"));
            try
            {
                return Results.Ok(publication.Reject(train, caller.Name, decision.Reason.Trim()));
            }
            catch (InvalidOperationException e)
            {
                return Results.Conflict(new ApiError(e.Message));
            }
        }).RequireAuthorization(Roles.Operator);
    }

    private static async Task<IResult> RegistryCallAsync(Func<Task<IResult>> call)
    {
        try
        {
            return await call();
        }
        catch (RegistryImageException e)
        {
            return Results.BadRequest(new ApiError(e.Message));
        }
        catch (Exception e) when (e is RegistryUnavailableException or HealthTrain.Trains.Protocol.Signing.SignatureRegistryException)
        {
            return Results.Json(new ApiError(e.Message), statusCode: StatusCodes.Status502BadGateway);
        }
    }

    private static async Task<IResult> SubmitAsync(TrainSubmission submission, HttpContext http, RegistryClient registry, TrainCatalog catalog,
        TrainPublication publication, CancellationToken ct)
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

        var (train, created) = catalog.Register(caller, repository, image.Digest, manifest);
        if (train.Digest != image.Digest)
            return Results.Conflict(new ApiError(
                $"{repository} version {manifest.Version} is already registered with digest {train.Digest}; give the new image a new version"));
        // Submitting again re-runs the checks, e.g. after signing.
        var checkedTrain = await RegistryCallAsync(async () => Results.Ok(await publication.CheckAsync(train, http.Request.Host.Value ?? "", ct)));
        if (checkedTrain is not Microsoft.AspNetCore.Http.HttpResults.Ok<TrainInfo> ok) return checkedTrain;
        return created ? Results.Created($"/api/trains/{train.Id}", ok.Value) : ok;
    }
}

