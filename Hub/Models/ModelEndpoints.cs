using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Runs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Models;

/// <summary>Researchers list, read and download the model versions their runs produced, and export a version's provenance (<c>…/provenance</c>).</summary>
public static class ModelEndpoints
{
    public static void MapModelEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/models").RequireAuthorization(Roles.Researcher);
        group.MapGet("", (long? run, HttpContext http, ModelVersions versions) => versions.List(http.User.Caller(), run));
        // A version by digest, or by RUN/ROUND (the slash is part of the reference).
        group.MapGet("/{**reference}", (string reference, HttpContext http, ModelVersions versions, ModelFiles files, RunProvenance provenance) =>
        {
            if (reference.EndsWith("/provenance", StringComparison.Ordinal))
            {
                // The version's lineage as W3C PROV-JSON: earlier versions, merged updates, executions, approvals.
                var name = reference[..^"/provenance".Length];
                return provenance.ExportModel(name, http.User.Caller()) is { } prov
                    ? Results.Text(prov.ToJsonString(), "application/json")
                    : Results.NotFound(new ApiError($"no model version {name}"));
            }
            var download = reference.EndsWith("/file", StringComparison.Ordinal);
            if (download) reference = reference[..^"/file".Length];
            if (versions.Find(http.User.Caller(), reference) is not { } version)
                return Results.NotFound(new ApiError($"no model version {reference}"));
            return download
                ? Results.File(files.ModelPath(version.Digest), "application/octet-stream", $"{version.Digest.Replace(':', '-')}.safetensors")
                : Results.Ok(version);
        });
    }
}
