using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Station.Audit;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Disclosure;
using HealthTrain.Station.Execution;
using HealthTrain.Station.Hub;
using HealthTrain.Station.Inspection;
using HealthTrain.Station.Privacy;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Station.Jobs;

/// <summary>
/// A finished job's result, and for a training train the update file waiting in the outbox for upload; with what the
/// station checked before letting them out and, for an update released with differential privacy, how it was noised.
/// </summary>
public sealed record JobOutcome(JobResultUpload Result, string? UpdateFile)
{
    public IReadOnlyList<string> Checks { get; init; } = [];

    public JsonObject? Privacy { get; init; }
}

/// <summary>A job whose image is local, matches the hub's manifest and carries trusted signatures: ready for a decision.</summary>
public sealed record PreparedJob(JobAssignment Job, string Repository, TrainManifest Manifest, LocalTrainImage Image, string TrainUser,
    SignatureFindings Signatures, JobTimings Timings);

/// <summary>
/// Takes one job from assignment to result: pull by digest, check the image's manifest against the hub's, verify its
/// signatures (<see cref="PrepareAsync"/>); then, once approved, give the train exactly its declared inputs, run it
/// locked down, and collect only what it declared (<see cref="ExecuteAsync"/>).
/// </summary>
public sealed class JobRunner(TrainImages images, ITrainExecutor executor, TrainInputs inputs, GpuAllocator gpus, TrainInspector inspector,
    ApprovalStore approvals, IGlobalModels globalModels, StationPrivacy privacy, StationDisclosure disclosure, StationAudit audit, StationOptions options,
    ILogger<JobRunner> log)
{
    public async Task<PreparedJob> PrepareAsync(JobAssignment job, CancellationToken ct)
    {
        var step = Stopwatch.StartNew();
        TrainManifest manifest;
        try
        {
            manifest = ManifestValidator.ParseOrThrow(job.ManifestJson);
        }
        catch (ProtocolValidationException e)
        {
            throw new JobFailedException("inspect", "the hub sent an invalid manifest: " + string.Join("; ", e.Errors));
        }

        var repository = job.ImageReference[..job.ImageReference.IndexOf('@')];
        LocalTrainImage image;
        try
        {
            image = await images.EnsureAsync(repository, job.ImageDigest, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new JobFailedException("pull", e.Message);
        }
        var pullMs = step.ElapsedMilliseconds;
        step.Restart();

        CheckImageManifest(image, manifest);
        var (trainUser, refusal) = TrainUserPolicy.Decide(image.User, options.RootImages);
        if (refusal is not null) throw new JobFailedException("inspect", refusal);
        if (gpus.WhyNever(manifest.Resources.Gpus) is { } noGpus) throw new JobFailedException("inspect", noGpus);
        if (disclosure.WhyRefused(manifest) is { } unsuppressible) throw new JobFailedException("inspect", unsuppressible);
        SignatureFindings findings;
        try
        {
            findings = await HubRetry.RunAsync(() => inspector.VerifyAsync(repository, job.ImageDigest, ct), log, "read the signatures of", ct);
        }
        catch (SignatureRegistryException e)
        {
            throw new JobFailedException("verify", $"the image's signatures could not be read: {e.Message}");
        }
        if (!findings.Trusted)
            throw new JobFailedException("verify", string.Join("; ", findings.Problems));
        // A run the station's privacy budget cannot pay for in full is refused before its first round runs.
        privacy.Reserve(job);
        return new PreparedJob(job, repository, manifest, image, trainUser!, findings, new JobTimings { PullMs = pullMs, InspectMs = step.ElapsedMilliseconds });
    }

    /// <summary>
    /// Runs a prepared job under the approval of its exact digest. For a training train the checked update is moved to the
    /// station's outbox (<see cref="JobOutcome.UpdateFile"/>) for upload; the result's update digest is filled in then.
    /// </summary>
    public async Task<JobOutcome> ExecuteAsync(PreparedJob prepared, CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        var step = Stopwatch.StartNew();
        var (job, manifest, image) = (prepared.Job, prepared.Manifest, prepared.Image);
        var timings = prepared.Timings;
        // The executor runs nothing this station has not approved, whatever the caller decided: the approval binds to the digest.
        if (approvals.Find(job.ImageDigest) is not { State: ApprovalStates.Approved })
            throw new JobFailedException("approval", $"{job.ImageDigest} is not approved at this station");
        var plan = inputs.Plan(manifest);
        foreach (var p in plan)
            log.LogInformation("job {Job}: input '{Name}' ({Kind} over {Type}) exposes {Columns}", job.JobId, p.Name, p.Declared.Kind, p.ResourceType, string.Join(", ", p.Columns));
        timings = timings with { InspectMs = timings.InspectMs + step.ElapsedMilliseconds };
        step.Restart();

        IReadOnlyList<JobInputSummary>? given = null;
        var jobDir = Path.Combine(options.DataDir, "jobs", job.JobId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (Directory.Exists(jobDir)) Directory.Delete(jobDir, recursive: true);
        try
        {
            var (inputDir, outputDir) = PrepareDirectories(jobDir);
            given = await PrepareInputAsync(inputDir, plan, job, ct);
            timings = timings with { PrepareInputMs = step.ElapsedMilliseconds };

            using var gpuLease = await LeaseGpusAsync(manifest.Resources.Gpus, ct);
            var execution = new TrainExecution(
                image.Reference, prepared.TrainUser, inputDir, outputDir,
                manifest.Resources.Cpus, manifest.Resources.MemoryMb * 1024 * 1024, options.PidsLimit, options.TmpBytes,
                TimeSpan.FromSeconds(manifest.Resources.TimeoutSeconds),
                new Dictionary<string, string>
                {
                    ["org.healthtrain.job"] = job.JobId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["org.healthtrain.run"] = job.RunId.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    ["org.healthtrain.station"] = options.Name,
                })
            {
                GpuDeviceIds = gpuLease.DeviceIds,
                GpuDriver = options.GpuDriver,
                OutputLimits = new OutputLimits(options.MaxOutputBytes, options.MaxOutputFiles),
            };
            ExecutionOutcome outcome;
            try
            {
                outcome = await executor.ExecuteAsync(execution, ct);
            }
            catch (TrainStartException e)
            {
                throw new JobFailedException("run", e.Message);
            }
            timings = timings with { CreateStartMs = outcome.CreateStartMs, RunMs = outcome.RunMs };
            if (outcome.OutputOverrun is { } overrun)
                throw new JobFailedException("run", overrun, (int)outcome.ExitCode, outcome.LogTail);
            if (outcome.TimedOut)
                throw new JobFailedException("run", $"the train exceeded its timeout of {manifest.Resources.TimeoutSeconds} s and was killed", (int)outcome.ExitCode, outcome.LogTail);
            if (outcome.ExitCode != 0)
                throw new JobFailedException("run", $"the train exited with code {outcome.ExitCode}", (int)outcome.ExitCode, outcome.LogTail);

            step.Restart();
            if (manifest.Kind == TrainKinds.Training)
            {
                var training = OutputCollector.CollectTraining(outputDir, manifest, options.MaxOutputBytes, options.MaxOutputFiles);
                JsonObject? noised = null;
                if (privacy.Enabled)
                {
                    var global = Path.Combine(inputDir, TrainingOutput.GlobalModelPath);
                    var release = privacy.Release(job, manifest, training.UpdatePath, File.Exists(global) ? global : null);
                    log.LogInformation("job {Job}: update released with differential privacy: norm {Norm:G4}, scaled by {Scale:G4}, noise σ {Sigma:G4}",
                        job.JobId, release.UpdateNorm, release.ClipScale, release.NoiseStandardDeviation);
                    noised = new JsonObject
                    {
                        ["mechanism"] = "gaussian", ["clipNorm"] = options.Privacy.ClipNorm, ["updateNorm"] = release.UpdateNorm,
                        ["clipScale"] = release.ClipScale, ["clipped"] = release.Clipped, ["noiseStandardDeviation"] = release.NoiseStandardDeviation,
                    };
                }
                var outbox = Directory.CreateDirectory(Path.Combine(options.DataDir, "outbox")).FullName;
                var updateFile = Path.Combine(outbox, $"job-{job.JobId.ToString(System.Globalization.CultureInfo.InvariantCulture)}.safetensors");
                File.Move(training.UpdatePath, updateFile, overwrite: true);
                timings = timings with { CollectMs = step.ElapsedMilliseconds, TotalMs = timings.PullMs + timings.InspectMs + total.ElapsedMilliseconds };
                log.LogInformation("job {Job}: {Train} {Version} round {Round} trained on {Samples} samples in {Ms} ms: {Metrics}", job.JobId, job.TrainName,
                    job.TrainVersion, job.Round, training.Samples, timings.RunMs, string.Join(", ", training.Metrics.Select(m => $"{m.Key}={TrainingOutput.Format(m.Value)}")));
                // Statistics a training train declares leave under the same small-cell rule as a statistics train's.
                var trainingStatistics = manifest.Outputs.Statistics.Count > 0 ? disclosure.Release(job, manifest, training.Statistics) : training.Statistics;
                return new JobOutcome(new JobResultUpload(trainingStatistics, timings, given)
                {
                    Update = new ModelUpdateSummary("", training.Samples, training.Metrics),
                }, updateFile)
                {
                    Checks = manifest.Outputs.Statistics.Count > 0 ? [.. TrainingChecks, SuppressionCheck(trainingStatistics)] : TrainingChecks,
                    Privacy = noised,
                };
            }
            var statistics = disclosure.Release(job, manifest, OutputCollector.CollectStatistics(outputDir, manifest, options.MaxOutputBytes, options.MaxOutputFiles));
            timings = timings with { CollectMs = step.ElapsedMilliseconds, TotalMs = timings.PullMs + timings.InspectMs + total.ElapsedMilliseconds };
            log.LogInformation("job {Job}: {Train} {Version} finished in {Ms} ms (train {RunMs} ms)", job.JobId, job.TrainName, job.TrainVersion, timings.TotalMs, timings.RunMs);
            return new JobOutcome(new JobResultUpload(statistics, timings, given), null) { Checks = [.. StatisticsChecks, SuppressionCheck(statistics)] };
        }
        catch (JobFailedException e) when (e.Stage != "inspect")
        {
            throw new JobFailedException(e.Stage, e.Reason, e.ExitCode, e.LogTail) { Timings = timings with { TotalMs = timings.PullMs + timings.InspectMs + total.ElapsedMilliseconds }, Inputs = given };
        }
        finally
        {
            try { Directory.Delete(jobDir, recursive: true); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { log.LogWarning(e, "could not remove {Dir}", jobDir); }
        }
    }

    /// <summary>What the station checks in a statistics train's output before it leaves (Jobs/OutputCollector), as its audit log names it.</summary>
    /// <summary>The audit log's words for the small-cell rule as applied to this result.</summary>
    private string SuppressionCheck(StatisticsResult released) => released.Disclosure is { } d
        ? $"small cells withheld (k = {d.MinCellCount}): {d.SuppressedCells} cell(s)"
        : $"small-cell suppression off (k = {disclosure.MinCellCount})";

    private static readonly IReadOnlyList<string> StatisticsChecks =
        ["only the declared statistics file", "no links, pipes, sockets, devices or hard links", "output size and entry caps", "statistics match the manifest"];

    /// <summary>What the station checks in a training train's output before it leaves (Jobs/OutputCollector, TensorOutputCheck).</summary>
    private static readonly IReadOnlyList<string> TrainingChecks =
        ["only the declared update, metrics and statistics files", "no links, pipes, sockets, devices or hard links", "output size and entry caps",
         "update tensors exactly as declared (names, shapes, dtypes)", "no NaN or infinite values"];

    /// <summary>Waits for enough free GPUs; jobs asking for none get an empty lease at once.</summary>
    private async Task<GpuLease> LeaseGpusAsync(int count, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow.AddSeconds(options.GpuWaitSeconds);
        while (true)
        {
            if (gpus.TryLease(count) is { } lease) return lease;
            if (DateTime.UtcNow > deadline)
                throw new JobFailedException("run", $"the station's GPUs stayed busy for {options.GpuWaitSeconds} s");
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
        }
    }

    /// <summary>The image's own label must carry the same manifest the hub holds: a train cannot say one thing to the hub and another to the station.</summary>
    private static void CheckImageManifest(LocalTrainImage image, TrainManifest expected)
    {
        image.Labels.TryGetValue(TrainManifest.LabelKey, out var label);
        var (found, errors) = ManifestValidator.Parse(label);
        if (found is null)
            throw new JobFailedException("inspect", "the image's train manifest is invalid: " + string.Join("; ", errors));
        if (JsonSerializer.Serialize(found, ProtocolJson.Options) != JsonSerializer.Serialize(expected, ProtocolJson.Options))
            throw new JobFailedException("inspect", "the image's train manifest differs from the one the hub registered");
    }

    private static (string Input, string Output) PrepareDirectories(string jobDir)
    {
        // Job folders hold patient data: only the station's own user may enter the parent.
        var jobsRoot = Path.GetDirectoryName(jobDir)!;
        Directory.CreateDirectory(jobsRoot);
        File.SetUnixFileMode(jobsRoot, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var input = Path.Combine(jobDir, "input");
        var output = Path.Combine(jobDir, "output");
        Directory.CreateDirectory(input);
        Directory.CreateDirectory(output);
        const UnixFileMode readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        File.SetUnixFileMode(jobDir, readable);
        File.SetUnixFileMode(input, readable);
        // The train's user must be able to write /output; its uid is not ours, so the folder is world-writable
        // inside a job folder nobody else can reach.
        File.SetUnixFileMode(output, readable | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite);
        return (input, output);
    }

    private async Task<IReadOnlyList<JobInputSummary>> PrepareInputAsync(string inputDir, IReadOnlyList<PlannedInput> plan, JobAssignment job, CancellationToken ct)
    {
        try
        {
            File.WriteAllText(Path.Combine(inputDir, "parameters.json"), job.Parameters.ToJsonString());
            if (job.Training is { } training)
            {
                File.WriteAllText(Path.Combine(inputDir, TrainingOutput.RoundFileName), TrainingOutput.RoundJson(job));
                if (training.GlobalModelDigest is { } digest)
                    await HubRetry.RunAsync(async () => { await globalModels.FetchAsync(job, digest, Path.Combine(inputDir, TrainingOutput.GlobalModelPath), ct); return true; },
                        log, "fetch the global model of", ct);
            }
            var given = await inputs.WriteAsync(inputDir, plan, ct);
            foreach (var g in given)
            {
                log.LogInformation("job {Job}: gave the train {Rows} rows of '{Name}'", job.JobId, g.Rows, g.Name);
                audit.Record(AuditKinds.ViewMaterialized, job, new JsonObject
                {
                    ["name"] = g.Name, ["kind"] = g.Kind, ["resourceType"] = g.ResourceType, ["rows"] = g.Rows,
                    ["columns"] = new JsonArray([.. g.Columns.Select(col => JsonValue.Create(col))]),
                });
            }
            foreach (var path in Directory.EnumerateFileSystemEntries(inputDir, "*", SearchOption.AllDirectories))
                File.SetUnixFileMode(path, Directory.Exists(path)
                    ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute
                    : UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            return given;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or HttpRequestException or HealthTrain.Station.Views.ViewEvaluationException)
        {
            throw new JobFailedException("input", $"could not prepare the train's input: {e.Message}");
        }
    }
}
