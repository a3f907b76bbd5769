using System.Security.Cryptography;
using HealthTrain.Station.Hub;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Station.Jobs;

/// <summary>Fetches the global model a training job starts from.</summary>
public interface IGlobalModels
{
    /// <summary>Writes the model to <paramref name="path"/>, checked against its digest and the train's declared tensors.</summary>
    /// <exception cref="IOException">The model is missing, not the promised one, or not the declared tensors.</exception>
    Task FetchAsync(JobAssignment job, string digest, string path, CancellationToken ct);
}

/// <summary>Downloads global models from the hub and checks them before a train reads them.</summary>
public sealed class HubGlobalModels(HubClient hub) : IGlobalModels
{
    public async Task FetchAsync(JobAssignment job, string digest, string path, CancellationToken ct)
    {
        if (!await hub.DownloadModelAsync(job.JobId, path, ct))
            throw new IOException($"the hub has no global model for job {job.JobId}, though the job names {digest}");
        string actual;
        await using (var file = File.OpenRead(path))
            actual = "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(file, ct));
        if (actual != digest) throw new IOException($"the global model the hub sent is {actual}, not the {digest} the job names");
        var manifest = ManifestValidator.ParseOrThrow(job.ManifestJson);
        var report = TensorOutputCheck.Check(manifest.Outputs.Tensors, path);
        if (!report.IsValid) throw new IOException($"the global model does not match the train's declared tensors: {string.Join("; ", report.Problems)}");
    }
}
