using HealthTrain.Station.Execution;

namespace HealthTrain.Station.Tests.Execution;

public class GpuAllocatorTests
{
    [Fact]
    public void Never_gives_one_gpu_to_two_jobs()
    {
        var gpus = new GpuAllocator(["0", "1", "2"]);
        using var first = gpus.TryLease(2)!;
        using var second = gpus.TryLease(1)!;
        Assert.Equal(["0", "1"], first.DeviceIds);
        Assert.Equal(["2"], second.DeviceIds);
        Assert.Null(gpus.TryLease(1));
        first.Dispose();
        first.Dispose(); // releasing twice must not free someone else's GPU
        using var third = gpus.TryLease(2)!;
        Assert.Equal(["0", "1"], third.DeviceIds);
        Assert.Null(gpus.TryLease(1));
    }

    [Fact]
    public void A_job_without_gpus_always_gets_an_empty_lease()
    {
        var gpus = new GpuAllocator([]);
        Assert.Empty(gpus.TryLease(0)!.DeviceIds);
        Assert.Null(gpus.WhyNever(0));
    }

    [Fact]
    public void Asking_for_more_gpus_than_the_station_has_is_refused_with_the_reason()
    {
        Assert.Equal("the train asks for 1 GPU(s) and this station offers none; it is not run on CPU instead", new GpuAllocator([]).WhyNever(1));
        Assert.Equal("the train asks for 3 GPU(s) and this station offers only 2", new GpuAllocator(["0", "1"]).WhyNever(3));
        Assert.Null(new GpuAllocator(["0", "1"]).WhyNever(2));
    }
}
