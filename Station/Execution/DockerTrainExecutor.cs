using System.Diagnostics;
using System.Text;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace HealthTrain.Station.Execution;

/// <summary>Runs trains in Docker containers with no network, read-only input, resource limits and a killing timeout.</summary>
public sealed class DockerTrainExecutor(DockerClient docker, ILogger<DockerTrainExecutor> log) : ITrainExecutor
{
    private const int LogTailLines = 40;

    public async Task<ExecutionOutcome> ExecuteAsync(TrainExecution x, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var created = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = x.Image,
            User = x.User,
            Labels = x.Labels.ToDictionary(),
            NetworkDisabled = true,
            HostConfig = new HostConfig
            {
                NetworkMode = "none",
                Binds = [$"{x.InputDir}:/input:ro", $"{x.OutputDir}:/output:rw"],
                ReadonlyRootfs = true,
                Tmpfs = new Dictionary<string, string> { ["/tmp"] = $"rw,noexec,nosuid,size={x.TmpBytes}" },
                Memory = x.MemoryBytes,
                MemorySwap = x.MemoryBytes, // no swap beyond the memory limit
                NanoCPUs = (long)(x.Cpus * 1_000_000_000),
                PidsLimit = x.PidsLimit,
                CapDrop = ["ALL"],
                SecurityOpt = ["no-new-privileges"],
                AutoRemove = false, // logs are read after exit; removed in finally
            },
        }, ct);
        try
        {
            await docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct);
            var createStartMs = clock.ElapsedMilliseconds;
            clock.Restart();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(x.Timeout);
            long exitCode;
            var timedOut = false;
            try
            {
                exitCode = (await docker.Containers.WaitContainerAsync(created.ID, timeout.Token)).StatusCode;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                timedOut = true;
                await docker.Containers.KillContainerAsync(created.ID, new ContainerKillParameters(), CancellationToken.None);
                exitCode = (await docker.Containers.WaitContainerAsync(created.ID, CancellationToken.None)).StatusCode;
            }
            var runMs = clock.ElapsedMilliseconds;
            var logTail = exitCode != 0 || timedOut ? await ReadLogTailAsync(created.ID, ct) : "";
            return new ExecutionOutcome(exitCode, timedOut, logTail, createStartMs, runMs);
        }
        finally
        {
            try
            {
                await docker.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true }, CancellationToken.None);
            }
            catch (DockerApiException e)
            {
                log.LogWarning(e, "could not remove container {Id}", created.ID);
            }
        }
    }

    private async Task<string> ReadLogTailAsync(string id, CancellationToken ct)
    {
        using var stream = await docker.Containers.GetContainerLogsAsync(id, tty: false,
            new ContainerLogsParameters { ShowStdout = true, ShowStderr = true, Tail = LogTailLines.ToString(System.Globalization.CultureInfo.InvariantCulture) }, ct);
        // Read frame by frame so stdout and stderr stay in the order the train wrote them.
        using var text = new MemoryStream();
        var buffer = new byte[8192];
        while (true)
        {
            var read = await stream.ReadOutputAsync(buffer, 0, buffer.Length, ct);
            if (read.EOF) break;
            text.Write(buffer, 0, read.Count);
        }
        return Encoding.UTF8.GetString(text.ToArray()).TrimEnd();
    }
}
