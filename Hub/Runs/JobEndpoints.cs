using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Models;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Hub.Runs;

/// <summary>The station-facing side of runs: stations long-poll for jobs and report outcomes. A station sees only its own jobs.</summary>
public static class JobEndpoints
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    public static void MapJobEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/station/jobs").RequireAuthorization(Roles.Station);
        group.MapGet("/next", async (int? waitSeconds, HttpContext http, JobQueue queue, CancellationToken ct) =>
        {
            var wait = TimeSpan.FromSeconds(Math.Clamp(waitSeconds ?? 0, 0, (int)MaxWait.TotalSeconds));
            var job = await queue.NextAsync(http.User.Caller(), wait, ct);
            return job is null ? Results.NoContent() : Results.Ok(job);
        });
        group.MapPost("/{id:long}/started", async (long id, HttpContext http, JobQueue queue) =>
        {
            // The body is optional: older stations send none.
            JobStarted? report = null;
            if (http.Request.ContentLength is > 0 || http.Request.Headers.ContentType.Count > 0)
            {
                try
                {
                    report = await http.Request.ReadFromJsonAsync<JobStarted>(ProtocolJson.Api);
                }
                catch (System.Text.Json.JsonException e)
                {
                    return Results.BadRequest(new ApiError($"the start report is not valid JSON: {e.Message}"));
                }
            }
            return ToResult(queue.MarkStarted(http.User.Caller(), id, report), id);
        });
        group.MapGet("/{id:long}/model", (long id, HttpContext http, JobQueue queue, ModelFiles files) =>
            queue.GlobalModelOf(http.User.Caller(), id) switch
            {
                (JobReportOutcome.Accepted, { } digest) => Results.File(files.ModelPath(digest), "application/octet-stream"),
                // No content: the round starts from no global model, and the train initializes from the seed.
                (JobReportOutcome.Accepted, null) => Results.NoContent(),
                var (outcome, _) => ToResult(outcome, id),
            });
        group.MapPut("/{id:long}/update", async (long id, HttpContext http, JobQueue queue, ModelFiles files, CancellationToken ct) =>
        {
            var station = http.User.Caller();
            var (manifest, outcome) = queue.TrainingManifestOf(station, id);
            if (manifest is null) return ToResult(outcome, id);
            // Updates are model-sized, far past Kestrel's default body limit.
            if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
                limit.MaxRequestBodySize = ModelFiles.MaxUpdateBytes;
            string digest;
            long bytes;
            try
            {
                (digest, bytes) = await ModelFiles.ReceiveAsync(http.Request.Body, files.UpdatePath(id), ct);
            }
            catch (InvalidDataException e)
            {
                return Results.Json(new ApiError(e.Message), statusCode: StatusCodes.Status413PayloadTooLarge);
            }
            // The hub checks the update against the manifest itself: the station's check is not taken on trust.
            var report = TensorOutputCheck.Check(manifest.Outputs.Tensors, files.UpdatePath(id));
            if (!report.IsValid)
            {
                File.Delete(files.UpdatePath(id));
                queue.Fail(station, id, new JobFailureReport("hub", "update refused: " + string.Join("; ", report.Problems)));
                return Results.UnprocessableEntity(new ApiError("the update does not match the train's declared tensors; the job was failed",
                    [.. report.Problems.Select(p => new ValidationError("$.update", p))]));
            }
            queue.RecordUpdate(id, digest, bytes);
            return Results.Ok(new { digest, bytes });
        });
        group.MapPost("/{id:long}/awaiting-approval", (long id, JobAwaitingApproval report, HttpContext http, JobQueue queue) =>
            ToResult(queue.MarkAwaitingApproval(http.User.Caller(), id, report), id));
        group.MapPost("/{id:long}/awaiting-release", (long id, JobAwaitingRelease report, HttpContext http, JobQueue queue) =>
            ToResult(queue.MarkAwaitingRelease(http.User.Caller(), id, report), id));
        group.MapPost("/{id:long}/result", (long id, JobResultUpload upload, HttpContext http, JobQueue queue) =>
        {
            var (outcome, errors) = queue.Complete(http.User.Caller(), id, upload);
            return outcome == JobReportOutcome.Refused
                ? Results.UnprocessableEntity(new ApiError("the result does not match the train manifest; the job was failed", errors))
                : ToResult(outcome, id);
        });
        group.MapPost("/{id:long}/failure", (long id, JobFailureReport report, HttpContext http, JobQueue queue) =>
            ToResult(queue.Fail(http.User.Caller(), id, report), id));
    }

    private static IResult ToResult(JobReportOutcome outcome, long id) => outcome switch
    {
        JobReportOutcome.Accepted => Results.NoContent(),
        JobReportOutcome.NotFound => Results.NotFound(new ApiError($"no job {id} for this station")),
        _ => Results.Conflict(new ApiError($"job {id} is not open for this report")),
    };
}
