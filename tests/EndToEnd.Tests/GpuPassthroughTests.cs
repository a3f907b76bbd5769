using Docker.DotNet.Models;
using HealthTrain.Station.Execution;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// GPU passthrough against the real Docker daemon. This machine has no GPU runtime, so the test checks the exact
/// request the station sends (as Docker recorded it on the created container) and the clear refusal on start.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class GpuPassthroughTests(FederationFixture f) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-gpu-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private TrainExecution Execution(string label) => new(
        f.Misbehaving.Reference, "65532:65532", Directory.CreateDirectory(Path.Combine(_dir, "in")).FullName,
        Directory.CreateDirectory(Path.Combine(_dir, "out")).FullName, 1, 256L << 20, 64, 16L << 20, TimeSpan.FromSeconds(30),
        new Dictionary<string, string> { ["org.healthtrain.test"] = label })
    {
        GpuDeviceIds = ["1", "3"],
    };

    [Fact]
    public async Task The_station_asks_docker_for_exactly_the_chosen_gpus()
    {
        var created = await f.Docker.Containers.CreateContainerAsync(DockerTrainExecutor.ContainerParameters(Execution("gpu-request")));
        try
        {
            var container = await f.Docker.Containers.InspectContainerAsync(created.ID);
            var request = Assert.Single(container.HostConfig.DeviceRequests);
            Assert.Equal("nvidia", request.Driver);
            Assert.Equal(["1", "3"], request.DeviceIDs);
            Assert.Equal(0, request.Count); // the listed devices, never "all" (-1)
            Assert.Equal([["gpu"]], request.Capabilities.Select(c => c.ToArray()).ToArray());
            Assert.Contains("NVIDIA_VISIBLE_DEVICES=1,3", container.Config.Env);
            // The lock-down holds for GPU jobs too.
            Assert.Equal("none", container.HostConfig.NetworkMode);
            Assert.True(container.HostConfig.ReadonlyRootfs);
            Assert.Equal(["ALL"], container.HostConfig.CapDrop);
        }
        finally
        {
            await f.Docker.Containers.RemoveContainerAsync(created.ID, new ContainerRemoveParameters { Force = true });
        }
    }

    [Fact]
    public async Task Without_a_gpu_runtime_the_train_is_refused_not_run_on_cpu()
    {
        var executor = new DockerTrainExecutor(f.Docker, NullLogger<DockerTrainExecutor>.Instance);
        var e = await Assert.ThrowsAsync<TrainStartException>(() => executor.ExecuteAsync(Execution("gpu-refused"), CancellationToken.None));
        Assert.Contains("this station's Docker has no GPU runtime for driver 'nvidia'", e.Message);
        Assert.Contains("could not select device driver \\\"nvidia\\\"", e.Message);
        Assert.Contains("not run on CPU", e.Message);
        var left = await f.Docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { ["org.healthtrain.test=gpu-refused"] = true } },
        });
        Assert.Empty(left);
    }
}
