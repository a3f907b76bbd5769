using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Audit;
using HealthTrain.Station.Receipts;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Hub;
using HealthTrain.Station.Release;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Jobs;

/// <summary>
/// The station's main loop: load the FHIR folder once, then long-poll the hub for jobs and run them one at a time.
/// A job whose image waits for its operator's approval is parked (held at the hub as awaiting approval) while other
/// jobs go on; parked jobs are taken up again as soon as their digest is decided. Likewise a checked result of a kind
/// the station releases by hand (<see cref="ReleaseOptions"/>) waits in the outbox, the hub told so, until the operator
/// releases or withholds it. Every job ends with a report to the hub, success or failure, so a run never waits on a
/// silent station.
/// </summary>
public sealed class JobWorker(HubClient hub, JobRunner runner, ApprovalGate gate, ApprovalStore approvals, FhirStore store, StationOptions options,
    StationStatus status, StationAudit audit, ReceiptCollector receipts, JobHistory history, ReleaseStore releases, ILogger<JobWorker> log) : BackgroundService
{
    private static readonly TimeSpan Backoff = TimeSpan.FromSeconds(2);

    /// <summary>How long a poll waits while jobs are parked, so a decision is acted on promptly.</summary>
    private const int ParkedPollSeconds = 1;

    protected override async Task ExecuteAsync(CancellationToken ct)
    {
        await Task.Yield();
        if (!string.IsNullOrEmpty(options.FhirDir))
        {
            status.Set("loading");
            var report = new FhirFolderLoader(store).Load(options.FhirDir);
            status.Loaded(report);
            log.LogInformation("loaded FHIR folder {Dir}: {Report}", options.FhirDir, report);
        }
        status.Set("ready");
        // Receipts of entries a previous run of the station did not collect (a crash between a report and its receipt).
        await CollectReceiptsAsync(ct);

        while (!ct.IsCancellationRequested)
        {
            var parked = await TakeUpParkedAsync(ct);
            JobAssignment? job;
            try
            {
                job = await hub.NextJobAsync(parked > 0 ? Math.Min(ParkedPollSeconds, options.PollSeconds) : options.PollSeconds, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // The hub may be restarting; keep trying without hammering it.
                status.Set("waiting for hub", e.Message);
                log.LogWarning("polling the hub failed: {Error}", e.Message);
                await Task.Delay(Backoff, ct).ContinueWith(_ => { });
                continue;
            }
            status.Set("ready");
            if (job is not null) await ProcessAsync(job, ct);
        }
    }

    /// <summary>
    /// Runs or refuses parked jobs whose digest was decided, sends or fails held results the operator decided on, fails
    /// those that waited too long; returns how many still wait.
    /// </summary>
    private async Task<int> TakeUpParkedAsync(CancellationToken ct)
    {
        var waiting = await TakeUpHeldResultsAsync(ct);
        foreach (var parked in approvals.Parked())
        {
            var state = approvals.Find(parked.Digest)?.State;
            if (state is ApprovalStates.Approved or ApprovalStates.Rejected)
            {
                approvals.Unpark(parked.Job.JobId);
                await ProcessAsync(parked.Job, ct);
            }
            else if (DateTimeOffset.UtcNow > parked.WaitUntil)
            {
                approvals.Unpark(parked.Job.JobId);
                await ReportFailureAsync(parked.Job, new JobFailureReport("approval",
                    $"the train was not approved at this station within {options.Approval.WaitHours} h"), ct);
            }
            else waiting++;
        }
        return waiting;
    }

    private async Task<int> TakeUpHeldResultsAsync(CancellationToken ct)
    {
        var waiting = 0;
        foreach (var held in releases.All())
        {
            var job = held.Job;
            if (held.State == ReleaseStates.Released)
            {
                try
                {
                    await UploadAsync(job, new JobOutcome(held.Result, held.UpdateFile), ct, releasedBy: held.DecidedBy);
                    releases.Remove(job.JobId);
                }
                catch (Exception e) when (!ct.IsCancellationRequested
                                          && (e is TaskCanceledException || e is HttpRequestException { StatusCode: null or >= System.Net.HttpStatusCode.InternalServerError }))
                {
                    // The hub is away: released stays released, and the upload is tried again on the next turn of the loop.
                    log.LogWarning("job {Job}: the released result could not be sent yet: {Error}", job.JobId, e.Message);
                    waiting++;
                }
                catch (Exception e) when (!ct.IsCancellationRequested && e is HttpRequestException or IOException)
                {
                    // The hub no longer takes it (the job ended there meanwhile), or the update left the outbox: nothing to retry.
                    log.LogWarning("job {Job}: the released result cannot be sent: {Error}", job.JobId, e.Message);
                    history.Finished(job.JobId, false, "release", $"the released result could not be sent: {e.Message}", held.Result.Timings);
                    status.JobDone(false);
                    releases.Remove(job.JobId);
                }
                continue;
            }
            var failure = held.State == ReleaseStates.Withheld
                ? $"the result was withheld at this station by {held.DecidedBy} on {held.DecidedAt:yyyy-MM-dd HH:mm} UTC: {held.Reason}"
                : DateTimeOffset.UtcNow > held.WaitUntil ? $"the result was not released at this station within {options.Release.WaitHours} h" : null;
            if (failure is null)
            {
                waiting++;
                continue;
            }
            if (held.UpdateFile is not null) File.Delete(held.UpdateFile);
            await ReportFailureAsync(job, new JobFailureReport("release", failure, Timings: held.Result.Timings, Inputs: held.Result.Inputs), ct);
            releases.Remove(job.JobId);
        }
        return waiting;
    }

    private async Task ProcessAsync(JobAssignment job, CancellationToken ct)
    {
        history.Received(job);
        log.LogInformation("job {Job}: run {Run} round {Round}, train {Train} {Version}", job.JobId, job.RunId, job.Round, job.TrainName, job.TrainVersion);
        status.Set($"inspecting job {job.JobId}");
        try
        {
            var prepared = await runner.PrepareAsync(job, ct);
            switch (await gate.DecideAsync(prepared, ct))
            {
                case GateDecision.Refused refused:
                    throw new JobFailedException(refused.Stage, refused.Reason) { Timings = prepared.Timings };
                case GateDecision.Pending pending:
                    await ParkAsync(job, pending.Approval, ct);
                    return;
                case GateDecision.Approved approved:
                    status.Set($"running job {job.JobId}");
                    history.Started(job.JobId);
                    await WithRetriesAsync("report the start of", job, async () => { await hub.StartedAsync(job.JobId, new JobStarted(approved.Statement), ct); return true; }, ct);
                    var outcome = await runner.ExecuteAsync(prepared, ct);
                    if (options.Release.IsManual(prepared.Manifest.Kind))
                        await HoldAsync(job, prepared.Manifest.Kind, outcome, ct);
                    else
                        await UploadAsync(job, outcome, ct);
                    return;
            }
        }
        catch (JobFailedException e)
        {
            log.LogWarning("job {Job} failed at {Stage}: {Reason}", job.JobId, e.Stage, e.Reason);
            await ReportFailureAsync(job, new JobFailureReport(e.Stage, e.Reason, e.ExitCode, e.LogTail, e.Timings, e.Inputs), ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            log.LogError(e, "job {Job} failed unexpectedly", job.JobId);
            await ReportFailureAsync(job, new JobFailureReport("station", $"{e.GetType().Name}: {e.Message}"), ct);
        }
        finally
        {
            status.Set("ready");
            await CollectReceiptsAsync(ct);
        }
    }

    /// <summary>A result's release record: its kind, the digest the hub will compute, its size, checks and noise.</summary>
    private static JsonObject ResultDetails(JobResultUpload result, JobOutcome outcome)
    {
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(result.Statistics, ProtocolJson.Options));
        return Released(outcome.UpdateFile is null ? "statistics" : "training-result", "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes)), bytes.Length, outcome);
    }

    /// <summary>
    /// What a release record says: kind, digest and size of what left, what was checked, how it was noised. A held
    /// result released later carries no checks of its own: they are in its <c>result.held</c> record.
    /// </summary>
    private static JsonObject Released(string manifestKind, string digest, long bytes, JobOutcome outcome)
    {
        var details = new JsonObject { ["kind"] = manifestKind, ["digest"] = digest, ["bytes"] = bytes };
        if (outcome.Checks.Count > 0) details["checks"] = new JsonArray([.. outcome.Checks.Select(c => JsonValue.Create(c))]);
        if (outcome.Privacy is { } privacy) details["privacy"] = privacy.DeepClone();
        return details;
    }

    private static string FileDigest(string path)
    {
        using var file = File.OpenRead(path);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(file));
    }

    /// <summary>Collects the receipts of the entries this station's reports caused; the hub keeps them, so a failure here only delays them.</summary>
    private async Task CollectReceiptsAsync(CancellationToken ct)
    {
        try
        {
            var kept = await receipts.CollectAsync(ct);
            if (kept > 0) log.LogDebug("kept {Count} ledger receipts", kept);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            log.LogWarning("could not collect ledger receipts from the hub: {Error}", e.Message);
        }
    }

    /// <summary>
    /// Sends a checked result (a training train's update first) to the hub; <c>releasedBy</c> names the operator who
    /// released a held result (whose checks are in its <c>result.held</c> record).
    /// </summary>
    private async Task UploadAsync(JobAssignment job, JobOutcome outcome, CancellationToken ct, string? releasedBy = null)
    {
        var result = outcome.Result;
        if (outcome.UpdateFile is { } updateFile)
        {
            // Recorded before it leaves: once sent, the station cannot take it back, whatever the hub answers.
            audit.Record(AuditKinds.UpdateReleased, job, Released("model-update", FileDigest(updateFile), new FileInfo(updateFile).Length, outcome));
            // A result that cost a whole train run is not thrown away because the hub was briefly unreachable.
            var (digest, refused) = await WithRetriesAsync("upload the update of", job, () => hub.UploadUpdateAsync(job.JobId, updateFile, ct), ct);
            File.Delete(updateFile);
            if (refused is not null)
            {
                log.LogWarning("job {Job}: the hub refused the update: {Refusal}", job.JobId, refused);
                audit.Record(AuditKinds.JobFailed, job, new JsonObject { ["stage"] = "hub", ["reason"] = "the hub refused the update: " + refused });
                history.Finished(job.JobId, false, "hub", $"the hub refused the update: {refused}", result.Timings);
                status.JobDone(false);
                return;
            }
            result = result with { Update = result.Update! with { Digest = digest! } };
        }
        var released = ResultDetails(result, outcome);
        if (result.Update is { } update)
        {
            released["update"] = update.Digest;
            released["samples"] = update.Samples;
        }
        if (releasedBy is not null) released["releasedBy"] = releasedBy;
        audit.Record(AuditKinds.ResultReleased, job, released);
        var refusal = await WithRetriesAsync("upload the result of", job, () => hub.ResultAsync(job.JobId, result, ct), ct);
        if (refusal is not null)
        {
            log.LogWarning("job {Job}: the hub refused the result: {Refusal}", job.JobId, refusal);
            audit.Record(AuditKinds.JobFailed, job, new JsonObject { ["stage"] = "hub", ["reason"] = "the hub refused the result: " + refusal });
        }
        history.Finished(job.JobId, refusal is null, refusal is null ? null : "hub", refusal is null ? null : $"the hub refused the result: {refusal}", result.Timings);
        status.JobDone(refusal is null);
    }

    /// <summary>Keeps a checked result in the outbox for the operator's release, and tells the hub so the job is kept for this station meanwhile.</summary>
    private async Task HoldAsync(JobAssignment job, string kind, JobOutcome outcome, CancellationToken ct)
    {
        var wait = TimeSpan.FromHours(options.Release.WaitHours);
        releases.Hold(job, kind, outcome.Result, outcome.UpdateFile, DateTimeOffset.UtcNow + wait);
        // The checks and noise are known now, not when the operator releases it later: recorded with the hold.
        var held = ResultDetails(outcome.Result, outcome);
        if (outcome.UpdateFile is { } updateFile) held["update"] = FileDigest(updateFile);
        held["waitUntil"] = (DateTimeOffset.UtcNow + wait).ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        audit.Record(AuditKinds.ResultHeld, job, held);
        var reason = $"the {kind} result of {job.TrainName} {job.TrainVersion} waits for the station operator's release";
        history.Waiting(job.JobId, JobStates.AwaitingRelease, reason);
        log.LogInformation("job {Job}: {Reason}", job.JobId, reason);
        try
        {
            await WithRetriesAsync("report the release wait of", job, async () =>
            {
                await hub.AwaitingReleaseAsync(job.JobId, new JobAwaitingRelease(reason, (int)Math.Min(wait.TotalSeconds, int.MaxValue)), ct);
                return true;
            }, ct);
        }
        catch (HttpRequestException e) when (e.StatusCode is not null)
        {
            // The hub no longer keeps the job for this station (it failed it meanwhile): nothing left to release.
            releases.Remove(job.JobId);
            if (outcome.UpdateFile is not null) File.Delete(outcome.UpdateFile);
            throw;
        }
    }

    /// <summary>Holds the job until its digest is decided, and tells the hub so the job is kept for this station meanwhile.</summary>
    private async Task ParkAsync(JobAssignment job, ApprovalInfo approval, CancellationToken ct)
    {
        var wait = TimeSpan.FromHours(options.Approval.WaitHours);
        approvals.Park(job, job.ImageDigest, DateTimeOffset.UtcNow + wait);
        var reason = $"{approval.Train} {approval.Version} ({job.ImageDigest}) waits for the station operator's approval";
        history.Waiting(job.JobId, JobStates.AwaitingApproval, reason);
        log.LogInformation("job {Job}: {Reason}", job.JobId, reason);
        await WithRetriesAsync("report the approval wait of", job, async () =>
        {
            await hub.AwaitingApprovalAsync(job.JobId, new JobAwaitingApproval(reason, (int)Math.Min(wait.TotalSeconds, int.MaxValue)), ct);
            return true;
        }, ct);
    }

    private const int MaxAttempts = 8;

    /// <summary>Retries a hub call on network errors and 5xx answers with backoff (about 90 s in all); other refusals are final.</summary>
    private async Task<T> WithRetriesAsync<T>(string what, JobAssignment job, Func<Task<T>> call, CancellationToken ct)
    {
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < MaxAttempts && !ct.IsCancellationRequested
                                      && (e is TaskCanceledException || e is HttpRequestException { StatusCode: null or >= System.Net.HttpStatusCode.InternalServerError }))
            {
                log.LogWarning("could not {What} job {Job} (attempt {Attempt}): {Error}; retrying in {Delay} s", what, job.JobId, attempt, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 30));
            }
        }
    }

    private async Task ReportFailureAsync(JobAssignment job, JobFailureReport report, CancellationToken ct)
    {
        status.JobDone(false);
        // A train that ran and failed (or whose result was withheld) is a failure; one stopped before it ran was refused here (as the hub's ledger says too).
        audit.Record(report.Stage is "run" or "collect" or "release" ? AuditKinds.JobFailed : AuditKinds.JobRefused, job, new JsonObject
        {
            ["stage"] = report.Stage, ["reason"] = report.Reason, ["exitCode"] = report.ExitCode,
        });
        history.Finished(job.JobId, false, report.Stage, report.Reason, report.Timings);
        try
        {
            await WithRetriesAsync("report the failure of", job, async () => { await hub.FailureAsync(job.JobId, report, ct); return true; }, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // The hub's lease will requeue the job if this report never arrives.
            log.LogError("could not report job {Job}'s failure to the hub: {Error}", job.JobId, e.Message);
        }
    }
}
