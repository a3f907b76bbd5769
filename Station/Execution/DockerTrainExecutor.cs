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
        CreateContainerResponse created;
        try
        {
            created = await docker.Containers.CreateContainerAsync(ContainerParameters(x), ct);
        }
        catch (DockerApiException e)
        {
            throw new TrainStartException(Explain(x, e));
        }
        try
        {
            try
            {
                await docker.Containers.StartContainerAsync(created.ID, new ContainerStartParameters(), ct);
            }
            catch (DockerApiException e)
            {
                throw new TrainStartException(Explain(x, e));
            }
            var createStartMs = clock.ElapsedMilliseconds;
            clock.Restart();
            // Stops the wait at the timeout, or as soon as the train's output breaks the station's limits.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            stop.CancelAfter(x.Timeout);
            string? overrun = null;
            var watching = x.OutputLimits is { } limits
                ? Task.Run(async () =>
                {
                    overrun = await OutputWatcher.WatchAsync(x.OutputDir, limits, stop.Token);
                    if (overrun is not null) await stop.CancelAsync();
                }, CancellationToken.None)
                : Task.CompletedTask;
            long exitCode;
            var timedOut = false;
            try
            {
                exitCode = (await docker.Containers.WaitContainerAsync(created.ID, stop.Token)).StatusCode;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                timedOut = overrun is null;
                try
                {
                    await docker.Containers.KillContainerAsync(created.ID, new ContainerKillParameters(), CancellationToken.None);
                }
                catch (DockerApiException e) when (e.StatusCode == System.Net.HttpStatusCode.Conflict)
                {
                    // It exited just as the timeout fired; its exit code is read below.
                }
                exitCode = (await docker.Containers.WaitContainerAsync(created.ID, CancellationToken.None)).StatusCode;
            }
            finally
            {
                await stop.CancelAsync();
                await watching;
            }
            var runMs = clock.ElapsedMilliseconds;
            if (overrun is not null) log.LogWarning("stopped train container {Id}: {Reason}", created.ID, overrun);
            var logTail = exitCode != 0 || timedOut || overrun is not null ? await ReadLogTailAsync(created.ID, ct) : "";
            return new ExecutionOutcome(exitCode, timedOut, logTail, createStartMs, runMs) { OutputOverrun = overrun };
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

    private static string Explain(TrainExecution x, DockerApiException e)
    {
        var said = e.ResponseBody?.Trim() is { Length: > 0 } body ? body : e.Message;
        return x.GpuDeviceIds.Count > 0 && said.Contains("could not select device driver", StringComparison.Ordinal)
            ? $"this station's Docker has no GPU runtime for driver '{x.GpuDriver}' (Docker said: {said}); the train was not run on CPU instead"
            : $"Docker could not start the train: {said}";
    }

    /// <summary>Exactly what is asked of Docker for one execution: the lock-down, the limits and any GPUs.</summary>
    public static CreateContainerParameters ContainerParameters(TrainExecution x)
    {
        var parameters = new CreateContainerParameters
        {
            Image = x.Image,
            User = x.User,
            Labels = x.Labels.ToDictionary(),
            NetworkDisabled = true,
            Env = [],
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
        };
        if (x.GpuDeviceIds.Count > 0)
        {
            // The chosen devices only, never "all": two jobs must not share a GPU.
            parameters.HostConfig.DeviceRequests =
            [
                new DeviceRequest { Driver = x.GpuDriver, DeviceIDs = [.. x.GpuDeviceIds], Capabilities = [["gpu"]] },
            ];
            parameters.Env.Add("NVIDIA_VISIBLE_DEVICES=" + string.Join(',', x.GpuDeviceIds));
        }
        return parameters;
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
