using System.IO.Compression;
using System.Text.Json;
using HealthTrain.Station.Mapping;
using Xunit.Abstractions;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>The OMOP zip mapped once for all its tests.</summary>
public sealed class OmopFixture
{
    public OmopFixture()
    {
        Source = new OmopSource(MappingTestData.MappingDirectory("omop"));
        Run = MappedRun.Collect(Source.Read(MappingTestData.OmopZip, Report, CancellationToken.None));
    }

    public OmopSource Source { get; }

    public MappingRunReport Report { get; } = new();

    public MappedRun Run { get; }
}

/// <summary>omop-synthea27nj (OMOP CDM 5.4, 28 persons) through the omop mapping set.</summary>
public sealed class OmopMappingTests(OmopFixture data, ITestOutputHelper output) : IClassFixture<OmopFixture>
{
    private const string Loinc = "http://loinc.org";

    private static IEnumerable<(string System, string Code)> Codings(JsonElement concept) =>
        concept.TryGetProperty("coding", out var codings)
            ? codings.EnumerateArray().Select(c => (FhirFacts.Str(c, "system"), FhirFacts.Str(c, "code")))
            : [];

    [Fact]
    public void Every_row_maps_to_a_valid_R4_resource()
    {
        Assert.Empty(data.Run.Errors);
        Assert.Empty(data.Report.FileErrors);
        foreach (var resource in data.Run.Resources)
        {
            Assert.Null(FhirResourceValidator.Validate(resource.Json.GetRawText(), resource.Type));
        }

        foreach (var table in data.Report.Tables)
        {
            Assert.Equal(table.Rows, table.Resources);
            output.WriteLine($"{table.File,-26} rows {table.Rows,6} → {table.ResourceType,-18} {table.Resources,6}");
        }

        var expected = new Dictionary<string, int>
        {
            ["PERSON.csv"] = 28,
            ["VISIT_OCCURRENCE.csv"] = 1791,
            ["CONDITION_OCCURRENCE.csv"] = 470,
            ["MEASUREMENT.csv"] = 10040,
            ["OBSERVATION.csv"] = 8099,
            ["DRUG_EXPOSURE.csv"] = 883,
            ["PROCEDURE_OCCURRENCE.csv"] = 1649,
            ["PROVIDER.csv"] = 67,
        };
        foreach (var (file, count) in expected)
        {
            Assert.Equal(count, data.Report.Tables.Single(t => t.File == file).Resources);
        }
    }

    [Fact]
    public void The_28_persons_with_their_source_ids_and_deaths()
    {
        var patients = data.Run.OfType("Patient").ToList();
        Assert.Equal(28, patients.Count);
        Assert.All(patients, p =>
        {
            Assert.Matches("^[0-9a-f-]{36}$", p.Json.GetProperty("identifier")[0].GetProperty("value").GetString());
            Assert.Contains(p.Json.GetProperty("gender").GetString(), new[] { "male", "female" });
            Assert.Matches(@"^\d{4}-\d{2}-\d{2}$", p.Json.GetProperty("birthDate").GetString());
        });
        Assert.Equal(["2001-07-13", "2009-09-14", "2019-05-28"], patients.Select(p => FhirFacts.Str(p.Json, "deceasedDateTime")).Where(d => d.Length > 0).Order());
        Assert.Equal(15, patients.Count(p => p.Json.GetProperty("gender").GetString() == "male"));
    }

    [Theory]
    [InlineData("4548-4", 195)]
    [InlineData("2339-0", 229)]
    [InlineData("39156-5", 438)]
    [InlineData("8480-6", 726)]
    public void Measurements_carry_their_LOINC_codes(string loinc, int expected)
    {
        var measurements = data.Run.Resources.Where(r => r.Position.StartsWith("MEASUREMENT.csv:", StringComparison.Ordinal)).ToList();
        var coded = measurements.Where(m => Codings(m.Json.GetProperty("code")).Contains((Loinc, loinc))).ToList();
        Assert.Equal(expected, coded.Count);
        Assert.All(coded, m =>
        {
            var quantity = m.Json.GetProperty("valueQuantity");
            Assert.True(quantity.GetProperty("value").GetDecimal() > 0);
            Assert.Equal("http://unitsofmeasure.org", quantity.GetProperty("system").GetString());

            // The OMOP concept is kept next to the LOINC code.
            Assert.Contains(Codings(m.Json.GetProperty("code")), c => c.System == "https://fhir-terminology.ohdsi.org");
            Assert.StartsWith("Patient/", m.Json.GetProperty("subject").GetProperty("reference").GetString());
        });
        var units = coded.Select(m => m.Json.GetProperty("valueQuantity").GetProperty("code").GetString()).Distinct().ToList();
        output.WriteLine($"{loinc}: {coded.Count} measurements, units {string.Join(", ", units)}");
        Assert.Single(units);
    }

    [Fact]
    public void Source_codes_come_from_the_concept_table()
    {
        // Every coded resource's first coding is the source concept's code in a FHIR system, equal to the row's *_source_value.
        using var archive = ZipFile.OpenRead(MappingTestData.OmopZip);
        var conditions = ReadColumn(archive, "CONDITION_OCCURRENCE.csv", "condition_source_value");
        var ours = data.Run.Resources.Where(r => r.Position.StartsWith("CONDITION_OCCURRENCE.csv:", StringComparison.Ordinal)).ToList();
        Assert.Equal(conditions.Count, ours.Count);
        foreach (var condition in ours)
        {
            var line = int.Parse(condition.Position.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
            var first = Codings(condition.Json.GetProperty("code")).First();
            Assert.Equal(("http://snomed.info/sct", conditions[line]), first);
        }

        var drugs = data.Run.OfType("MedicationRequest").ToList();
        Assert.All(drugs, d => Assert.Equal("http://www.nlm.nih.gov/research/umls/rxnorm", Codings(d.Json.GetProperty("medicationCodeableConcept")).First().System));
        var measurementSystems = data.Run.Resources.Where(r => r.Position.StartsWith("MEASUREMENT.csv:", StringComparison.Ordinal))
            .GroupBy(m => Codings(m.Json.GetProperty("code")).First().System).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(new Dictionary<string, int> { [Loinc] = 9155, ["http://snomed.info/sct"] = 885 }, measurementSystems);
    }

    private static Dictionary<int, string> ReadColumn(ZipArchive archive, string file, string column)
    {
        using var csv = new CsvReader(archive.GetEntry(file)!.Open());
        var result = new Dictionary<int, string>();
        var index = -1;
        foreach (var record in csv.ReadAll())
        {
            if (index < 0)
            {
                index = record.Fields.ToList().IndexOf(column);
                continue;
            }

            result[(int)record.Line] = record.Fields[index];
        }

        return result;
    }

    [Fact]
    public void Ids_are_unique_references_resolve_and_a_folder_gives_the_same_output_as_the_zip()
    {
        var ids = data.Run.Resources.Select(r => $"{r.Type}/{r.Id}").ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var known = ids.ToHashSet();
        Assert.All(data.Run.Resources.SelectMany(r => SyntheaPeerComparisonTests.References(r.Json)), reference => Assert.Contains(reference, known));

        // The extracted folder (with its __MACOSX folder) maps to exactly the same resources.
        var fromFolder = MappedRun.Collect(data.Source.Read(MappingTestData.OmopFolder(), CancellationToken.None));
        Assert.Empty(fromFolder.Errors);
        Assert.Equal(data.Run.Resources.Select(r => r.Json.GetRawText()), fromFolder.Resources.Select(r => r.Json.GetRawText()));
    }

    [Fact]
    public void Without_the_concept_table_codes_fall_back_to_concept_ids_and_source_values()
    {
        var folder = MappingTestData.NewTempFolder();
        foreach (var file in new[] { "PERSON.csv", "MEASUREMENT.csv" })
        {
            File.Copy(Path.Combine(MappingTestData.OmopFolder(), file), Path.Combine(folder, file));
        }

        var run = MappedRun.Collect(data.Source.Read(folder, CancellationToken.None));
        var error = Assert.Single(run.Errors);
        Assert.Contains("concept.csv is missing", error.Error);
        var hba1c = run.OfType("Observation").First(o => o.Json.GetProperty("code").GetProperty("text").GetString() == "4548-4");
        Assert.Equal([("https://fhir-terminology.ohdsi.org", "3004410")], Codings(hba1c.Json.GetProperty("code")));
    }
}
