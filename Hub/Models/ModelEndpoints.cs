using HealthTrain.Hub.Identity;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Models;

/// <summary>Researchers list, read and download the model versions their runs produced.</summary>
public static class ModelEndpoints
{
    public static void MapModelEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/models").RequireAuthorization(Roles.Researcher);
        group.MapGet("", (long? run, HttpContext http, ModelVersions versions) => versions.List(http.User.Caller(), run));
        // A version by digest, or by RUN/ROUND (the slash is part of the reference).
        group.MapGet("/{**reference}", (string reference, HttpContext http, ModelVersions versions, ModelFiles files) =>
        {
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
