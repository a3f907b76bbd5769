using System.Text.Json;
using Docker.DotNet;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Execution;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Station.Inspection;

/// <summary>
/// Inspects train images before anything runs: verifies their signatures on every job (cheap: the signature manifest and
/// payloads are a few hundred bytes), and builds the full inspection report — layers, config, manifest, files changed
/// since the last approved version — once per new digest, for whoever approves it.
/// </summary>
public sealed class TrainInspector(StationRegistry registry, TrainSignatures signatures, ApprovalStore approvals, ApprovalPolicy policy,
    DockerClient docker, ILogger<TrainInspector> log)
{
    /// <exception cref="SignatureRegistryException">The signatures could not be read.</exception>
    public async Task<SignatureFindings> VerifyAsync(string repository, string digest, CancellationToken ct)
    {
        var stored = await registry.Signatures.ReadSignaturesAsync(repository, digest, ct);
        return signatures.Verify(repository, digest, stored);
    }

    /// <summary>The full report on an image whose signatures were verified (<paramref name="findings"/>).</summary>
    public async Task<InspectionReport> ReportAsync(JobAssignment job, string repository, TrainManifest manifest, LocalTrainImage image,
        SignatureFindings findings, CancellationToken ct)
    {
        var layers = await ReadLayersAsync(repository, job.ImageDigest, ct);
        var files = await ImageFileIndex.ReadAsync(docker, image.ImageId, ct);
        approvals.SaveFiles(job.ImageDigest, files);

        ImageDiff? diff = null;
        if (approvals.LastApproved(repository, job.ImageDigest) is { } previous && approvals.LoadFiles(previous.Digest) is { } before)
        {
            var (added, changed, removed) = ImageFileIndex.Diff(before, files);
            diff = new ImageDiff(previous.Digest, previous.Version, added, changed, removed);
        }
        var problems = new List<string>(findings.Problems);
        problems.AddRange(policy.LimitProblems(manifest));
        if (image.Config.ExposedPorts.Count > 0) problems.Add($"the image exposes ports ({string.Join(", ", image.Config.ExposedPorts)}); a train serves nothing");
        var author = findings.Signers.FirstOrDefault(s => s.Role == ImageSigner.AuthorRole)?.Name ?? job.TrainOwner;
        log.LogInformation("inspected {Repository}@{Digest}: {Layers} layers, {Files} files, {Problems} problem(s)", repository, job.ImageDigest, layers.Count, files.Count, problems.Count);
        return new InspectionReport(job.ImageDigest, repository, manifest.Name, manifest.Version, manifest.Kind, author,
            findings.Signers, layers, layers.Sum(l => l.Size), image.Config, manifest, diff, problems, DateTimeOffset.UtcNow);
    }

    private async Task<IReadOnlyList<ImageLayerInfo>> ReadLayersAsync(string repository, string digest, CancellationToken ct)
    {
        var bytes = await registry.Signatures.ReadManifestAsync(repository, digest, ct);
        using var json = JsonDocument.Parse(bytes);
        if (!json.RootElement.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array) return [];
        return [.. layers.EnumerateArray().Select(l => new ImageLayerInfo(
            l.GetProperty("digest").GetString() ?? "", l.TryGetProperty("size", out var size) ? size.GetInt64() : 0,
            l.TryGetProperty("mediaType", out var type) ? type.GetString() ?? "" : ""))];
    }
}

/// <summary>The station's reader of the hub registry's signatures and manifests, one per station so registry tokens are reused.</summary>
public sealed class StationRegistry(StationOptions options) : IDisposable
{
    private readonly HttpClient http = new() { BaseAddress = new Uri(new Uri(options.HubUrl), "/"), Timeout = TimeSpan.FromMinutes(1) };
    private SignatureRegistry? signatures;

    public SignatureRegistry Signatures => signatures ??= new SignatureRegistry(http, new RegistryCredentials(options.Name, options.Token));

    public void Dispose() => http.Dispose();
}
