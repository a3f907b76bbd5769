using HealthTrain.Station.Mapping;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>Which Synthea exports are mapped and which are refused, and that re-mapping gives the same ids.</summary>
public sealed class SyntheaLayoutTests
{
    private static SyntheaCsvSource Source() => new(MappingTestData.MappingDirectory("synthea-csv"));

    [Fact]
    public void The_2018_csv_layout_is_refused_as_a_whole_with_a_clear_reason()
    {
        var csv = Path.Combine(MappingTestData.Unpack("synthea-stu3-2018-sample"), "csv");
        var report = new MappingRunReport();
        var run = MappedRun.Collect(Source().Read(csv, report, CancellationToken.None));

        Assert.Empty(run.Resources);

        // One error per file the mappings would have read (conditions.csv has the modern header but is refused too).
        Assert.Equal(["conditions.csv", "immunizations.csv", "medications.csv", "patients.csv"], run.Errors.Select(e => e.Position).Order());
        Assert.All(run.Errors, e =>
        {
            Assert.Contains("Synthea 2.x (2018) CSV layout", e.Error);
            Assert.Contains("patients.csv: ID,BIRTHDATE", e.Error);
        });
        Assert.Empty(report.Tables);
    }

    [Fact]
    public void A_lone_2018_medications_file_is_refused_too()
    {
        var folder = MappingTestData.NewTempFolder();
        var csv = Path.Combine(MappingTestData.Unpack("synthea-stu3-2018-sample"), "csv");
        File.Copy(Path.Combine(csv, "medications.csv"), Path.Combine(folder, "medications.csv"));
        var run = MappedRun.Collect(Source().Read(folder, CancellationToken.None));
        Assert.Empty(run.Resources);
        Assert.Contains("COST instead of BASE_COST", Assert.Single(run.Errors).Error);
    }

    [Fact]
    public void A_2018_patients_file_alone_fails_on_its_header()
    {
        // Without the layout rule it would still not be mis-mapped: Id is a required column.
        var folder = MappingTestData.NewTempFolder();
        File.WriteAllText(Path.Combine(folder, "patients.csv"), "Identifier,BIRTHDATE,GENDER,FIRST,LAST\nx,2000-01-01,M,A,B\n");
        var run = MappedRun.Collect(Source().Read(folder, CancellationToken.None));
        Assert.Empty(run.Resources);
        Assert.Contains(run.Errors, e => e.Position == "patients.csv" && e.Error!.Contains("missing required column(s) Id", StringComparison.Ordinal));
        Assert.Contains(run.Errors, e => e.Position == "encounters.csv" && e.Error!.Contains("is missing", StringComparison.Ordinal));
    }

    [Fact]
    public void The_ma27_export_maps_cleanly_and_remapping_gives_the_same_ids()
    {
        var csv = Path.Combine(MappingTestData.Unpack("synthea-csv-ma-27"), "csv");
        var report = new MappingRunReport();
        var first = MappedRun.Collect(Source().Read(csv, report, CancellationToken.None));
        Assert.Empty(first.Errors);
        Assert.Equal(27, first.OfType("Patient").Count());
        Assert.Equal(7, first.OfType("Observation").Count(o => FhirFacts.FirstCoding(o.Json.GetProperty("code")).Code == "4548-4"));
        Assert.Equal(75, report.Tables.Single(t => t.File == "observations.csv").Skipped.Values.Sum());

        var ids = first.Resources.Select(r => $"{r.Type}/{r.Id}").ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var second = MappedRun.Collect(Source().Read(csv, CancellationToken.None));
        Assert.Equal(ids, second.Resources.Select(r => $"{r.Type}/{r.Id}"));
        Assert.Equal(first.Resources.Select(r => r.Json.GetRawText()), second.Resources.Select(r => r.Json.GetRawText()));
    }
}
