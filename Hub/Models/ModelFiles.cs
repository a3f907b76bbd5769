using System.Security.Cryptography;

namespace HealthTrain.Hub.Models;

/// <summary>
/// Where the hub keeps model files: merged models content-addressed (<c>models/sha256-HEX.safetensors</c>), fedadam's
/// moments per run and round, and each job's received update. Files are written to a temporary name and renamed, so a
/// crash never leaves a half-written model under a digest.
/// </summary>
public sealed class ModelFiles(HubOptions options)
{
    /// <summary>Largest update a station may upload.</summary>
    public const long MaxUpdateBytes = 4L * 1024 * 1024 * 1024;

    private string ModelsDir => Directory.CreateDirectory(Path.Combine(options.DataDir, "models")).FullName;
    private string UpdatesDir => Directory.CreateDirectory(Path.Combine(options.DataDir, "updates")).FullName;

    public string ModelPath(string digest) => Path.Combine(ModelsDir, digest.Replace(':', '-') + ".safetensors");

    public string UpdatePath(long jobId) => Path.Combine(UpdatesDir, $"job-{jobId}.safetensors");

    public string StatePath(long runId, int round) => Path.Combine(ModelsDir, $"fedadam-run-{runId}-round-{round}.safetensors");

    /// <summary>A fresh temporary file next to the models, for a merge to write into.</summary>
    public string TemporaryPath() => Path.Combine(ModelsDir, $".tmp-{Guid.NewGuid():N}");

    /// <summary>Moves a written model to its content address and returns its digest (an identical model already there is kept).</summary>
    public string Keep(string temporaryPath)
    {
        string digest;
        using (var file = File.OpenRead(temporaryPath))
            digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(file));
        File.Move(temporaryPath, ModelPath(digest), overwrite: true);
        return digest;
    }

    /// <summary>
    /// Streams an upload to <paramref name="destination"/> (via a temporary file), hashing as it goes.
    /// </summary>
    /// <exception cref="InvalidDataException">The body is larger than <see cref="MaxUpdateBytes"/>.</exception>
    public static async Task<(string Digest, long Bytes)> ReceiveAsync(Stream body, string destination, CancellationToken ct)
    {
        var temporary = destination + ".part";
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        try
        {
            await using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                var buffer = new byte[1 << 16];
                int read;
                while ((read = await body.ReadAsync(buffer, ct)) > 0)
                {
                    total += read;
                    if (total > MaxUpdateBytes) throw new InvalidDataException($"the update is larger than {MaxUpdateBytes} bytes");
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), ct);
                }
            }
            File.Move(temporary, destination, overwrite: true);
            return ("sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset()), total);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
