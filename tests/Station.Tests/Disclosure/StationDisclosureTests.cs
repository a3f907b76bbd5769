using System.Text.Json.Nodes;
using HealthTrain.Station.Disclosure;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.Station.Tests.Disclosure;

public sealed class StationDisclosureTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-disclosure-").FullName;

    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"name":"t","version":"1","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[{"name":"patients","kind":"count"},{"name":"by_sex","kind":"count","categories":["f","m"]}]}}
        """);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private StationDisclosure Station(int k)
    {
        var db = new StationDatabase(Path.Combine(_dir, "station.db"));
        db.Migrate();
        return new StationDisclosure(new StationOptions { Disclosure = new DisclosureOptions { MinCellCount = k } }, db, NullLogger<StationDisclosure>.Instance);
    }

    private static JobAssignment Job(long id) => new(id, 7, 1, 3, "t", "1", "hub/alice/t@sha256:00", "sha256:00", "{}", new JsonObject());

    private static StatisticsResult Result(double patients, double f, double m) => new()
    {
        Statistics = new()
        {
            ["patients"] = new() { Kind = "count", Value = patients },
            ["by_sex"] = new() { Kind = "count", Categories = new() { ["f"] = f, ["m"] = m } },
        },
    };

    [Fact]
    public void Each_release_is_recorded_with_its_k_and_every_cell_withheld()
    {
        var station = Station(5);

        var released = station.Release(Job(41), Manifest, Result(patients: 3, f: 2, m: 1));
        station.Release(Job(42), Manifest, Result(patients: 30, f: 20, m: 10));

        Assert.Equal(new StatisticsDisclosure(5, 3), released.Disclosure);
        var record = station.RecordOf(41)!.Value;
        Assert.Equal(5, record.MinCellCount);
        Assert.Equal(new SuppressedCell[] { new("patients", "value", "primary"), new("by_sex", "categories.f", "primary"), new("by_sex", "categories.m", "primary") }, record.Cells);
        Assert.Equal((5, 0), (station.RecordOf(42)!.Value.MinCellCount, station.RecordOf(42)!.Value.Cells.Count));
        Assert.Null(station.RecordOf(43));
    }

    [Fact]
    public void A_job_released_again_keeps_only_its_latest_record()
    {
        var station = Station(5);

        station.Release(Job(5), Manifest, Result(patients: 3, f: 2, m: 1));
        station.Release(Job(5), Manifest, Result(patients: 30, f: 26, m: 4));

        var record = station.RecordOf(5)!.Value;
        Assert.Equal(["by_sex.categories.f:secondary", "by_sex.categories.m:primary"], record.Cells.Select(c => $"{c.Statistic}.{c.Cell}:{c.Reason}"));
    }

    [Fact]
    public void A_station_with_suppression_off_records_that_too()
    {
        var station = Station(1);

        var released = station.Release(Job(9), Manifest, Result(patients: 3, f: 2, m: 1));

        Assert.Equal(3, released.Statistics["patients"].Value);
        Assert.Equal((1, 0), (station.RecordOf(9)!.Value.MinCellCount, station.RecordOf(9)!.Value.Cells.Count));
    }
}
