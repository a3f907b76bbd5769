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

    [Theory]
    [InlineData("""{"statistics":{"patients":{"kind":"count","value":null,"suppressed":["value"]}},"disclosure":{"minCellCount":5,"suppressedCells":1}}""", "(patients)")]
    [InlineData("""{"statistics":{"patients":{"kind":"count","value":7}},"disclosure":{"minCellCount":5,"suppressedCells":0}}""", "(disclosure)")]
    public void Refuses_statistics_a_train_marked_suppressed_itself(string json, string named)
    {
        File.WriteAllText(Path.Combine(_dir, "statistics.json"), json);

        var e = Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20));

        Assert.Equal("collect", e.Stage);
        Assert.Contains($"marks cells suppressed {named}; only the station suppresses cells", e.Reason);
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
    public void Refuses_a_named_pipe_posing_as_the_result()
    {
        // Reading a named pipe would block the station forever.
        SpecialFiles.MakeFifo(Path.Combine(_dir, "statistics.json"));
        var e = Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20));
        Assert.Equal("collect", e.Stage);
        Assert.Contains("links or special files in /output: statistics.json (named pipe)", e.Reason);
    }

    [Fact]
    public void Refuses_sockets_and_links_to_folders_without_following_them()
    {
        File.WriteAllText(Path.Combine(_dir, "statistics.json"), Good);
        Directory.CreateSymbolicLink(Path.Combine(_dir, "root"), "/");
        using var socket = SpecialFiles.BindSocket(Path.Combine(_dir, "sock"));
        var e = Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20));
        Assert.Contains("links or special files in /output: root (symbolic link), sock (socket)", e.Reason);
    }

    [Fact]
    public void Refuses_a_result_with_a_second_name()
    {
        var outside = Path.Combine(_dir, "..", Path.GetFileName(_dir) + "-outside.json");
        File.WriteAllText(outside, Good);
        try
        {
            SpecialFiles.HardLink(Path.Combine(_dir, "statistics.json"), outside);
            var e = Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20));
            Assert.Contains("hard-linked files in /output: statistics.json (2 links)", e.Reason);
        }
        finally
        {
            File.Delete(outside);
        }
    }

    [Fact]
    public void Refuses_more_entries_than_the_limit_and_stops_looking()
    {
        File.WriteAllText(Path.Combine(_dir, "statistics.json"), Good);
        for (var i = 0; i < 20; i++) File.WriteAllText(Path.Combine(_dir, $"f{i}"), "");
        var e = Assert.Throws<JobFailedException>(() => OutputCollector.CollectStatistics(_dir, Manifest, 1 << 20, maxEntries: 10));
        Assert.Equal("the train left more than the station's limit of 10 files and folders in /output", e.Reason);
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
