using HealthTrain.Station.Jobs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Tests.Jobs;

public sealed class OutputCollectorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-output-").FullName;

    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"name":"t","version":"1","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[{"name":"patients","kind":"count"}]}}
        """);

    private const string Good = """{"statistics":{"patients":{"kind":"count","value":7}}}""";

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Collects_the_declared_statistics()
    {
        File.WriteAllText(Path.Combine(_dir, "statistics.json"), Good);
        var result = OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20);
        Assert.Equal(7, result.Statistics["patients"].Value);
    }

    [Fact]
    public void Refuses_undeclared_files()
    {
        File.WriteAllText(Path.Combine(_dir, "statistics.json"), Good);
        File.WriteAllText(Path.Combine(_dir, "patients.csv"), "id\n1\n");
        var e = Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20));
        Assert.Equal("collect", e.Stage);
        Assert.Contains("undeclared output: patients.csv", e.Reason);
    }

    [Fact]
    public void Refuses_subfolders_and_links()
    {
        File.WriteAllText(Path.Combine(_dir, "statistics.json"), Good);
        Directory.CreateDirectory(Path.Combine(_dir, "extra"));
        Assert.Contains("extra", Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20)).Reason);
        Directory.Delete(Path.Combine(_dir, "extra"));
        File.CreateSymbolicLink(Path.Combine(_dir, "secret"), "/etc/passwd");
        Assert.Contains("links or special files in /output: secret", Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20)).Reason);
    }

    [Fact]
    public void Refuses_output_over_the_cap()
    {
        File.WriteAllText(Path.Combine(_dir, "statistics.json"), Good + new string(' ', 2000));
        Assert.Contains("over the station's cap of 1000", Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1000)).Reason);
    }

    [Fact]
    public void Refuses_a_missing_statistics_file() =>
        Assert.Contains("without writing /output/statistics.json", Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20)).Reason);

    [Fact]
    public void Refuses_statistics_that_break_the_manifest()
    {
        File.WriteAllText(Path.Combine(_dir, "statistics.json"), """{"statistics":{"patients":{"kind":"count","value":7},"names":{"kind":"count","value":1}}}""");
        var e = Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20));
        Assert.Contains("$.statistics.names: is not declared in the manifest", e.Reason);
    }
}

public class TrainUserTests
{
    [Theory]
    [InlineData("65532:65532", "65532:65532")]
    [InlineData("1000", "1000")]
    [InlineData("", "65532:65532")]
    [InlineData("root", "65532:65532")]
    [InlineData("0", "65532:65532")]
    [InlineData("00", "65532:65532")]
    [InlineData("0:0", "65532:65532")]
    [InlineData("1000:0", "65532:65532")]
    [InlineData("train", "65532:65532")]
    [InlineData("1000:1000:1", "65532:65532")]
    public void Trains_run_as_a_numeric_non_root_user(string imageUser, string expected) =>
        Assert.Equal(expected, JobRunner.TrainUser(imageUser));
}
