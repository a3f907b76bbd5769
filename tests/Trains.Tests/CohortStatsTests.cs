using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using HealthTrain.Examples.CohortStats;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests;

/// <summary>Where the repository and the shared test data are, found from the test binaries.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();
    public static string CohortStats => Path.Combine(Root, "Trains", "Examples", "cohort-stats");
    public static string SharedData => Path.GetFullPath(Path.Combine(Root, "..", "shared", "data"));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "HealthTrain.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no HealthTrain.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>Runs the built cohort-stats train as a process against a station layout, as a station would.</summary>
internal static class CohortStatsProcess
{
    public static (int ExitCode, string Stdout, string Stderr) Run(TrainFolders folders)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "cohort-stats.dll"));
        start.Environment["HEALTHTRAIN_INPUT"] = folders.Input;
        start.Environment["HEALTHTRAIN_OUTPUT"] = folders.Output;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill();
            throw new TimeoutException("cohort-stats did not finish in 2 minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}

public sealed class CohortStatsTests
{
    private static readonly DateOnly ReferenceDate = new(2026, 1, 1);

    private static TrainManifest Manifest => ManifestValidator.ParseOrThrow(File.ReadAllText(Path.Combine(RepoPaths.CohortStats, "train.json")));

    [Fact]
    public void The_manifest_is_valid_and_matches_the_code()
    {
        var manifest = Manifest;

        Assert.Equal(("cohort-stats", "1.0.0", TrainKinds.Statistics), (manifest.Name, manifest.Version, manifest.Kind));
        Assert.Equal(["Patient", "Observation", "Condition"], manifest.Inputs.Select(i => i.ResourceType));
        Assert.All(manifest.Inputs, i => Assert.Equal(InputKinds.FhirResources, i.Kind));
        Assert.Equal((1.0, 512L, 300, 0), (manifest.Resources.Cpus, manifest.Resources.MemoryMb, manifest.Resources.TimeoutSeconds, manifest.Resources.Gpus));
        var parameter = Assert.Single(manifest.Parameters);
        Assert.Equal(("reference_date", "date", "2026-01-01"), (parameter.Name, parameter.Type, parameter.Default!.Value.GetString()));
        var statistics = manifest.Outputs.Statistics.ToDictionary(s => s.Name);
        Assert.Equal(["patients", "patients_by_gender", "age_years", "bmi", "hba1c", "type2_diabetes_patients"], statistics.Keys);
        Assert.Equal(CohortStatistics.Genders, statistics["patients_by_gender"].Categories);
        Assert.Equal(CohortStatistics.AgeBins, statistics["age_years"].Bins);
        Assert.Equal(("variance", "kg/m2"), (statistics["bmi"].Kind, statistics["bmi"].Unit));
        Assert.Equal(("variance", "%"), (statistics["hba1c"].Kind, statistics["hba1c"].Unit));
    }

    [Fact]
    public void A_hand_built_cohort_gives_the_known_answer()
    {
        var result = CohortStatistics.Compute(Parse(Patients), Parse(Observations), Parse(Conditions), ReferenceDate);

        Assert.Empty(StatisticsResultValidator.Validate(Manifest, result));
        var s = result.Statistics;
        Assert.Equal(11, s["patients"].Value);
        Assert.Equal(new Dictionary<string, double> { ["female"] = 4, ["male"] = 3, ["other"] = 1, ["unknown"] = 3 }, s["patients_by_gender"].Categories);
        // p3 is 0; p1 36, p2 35; p9 and p11 49; p4 died at 69; p5 was 126 at the reference date; p10 is not born yet.
        Assert.Equal([1L, 0, 0, 2, 2, 0, 1, 0, 0, 0, 0, 0], s["age_years"].Counts!);
        Assert.Equal((1L, 1L), (s["age_years"].Underflow!.Value, s["age_years"].Overflow!.Value));
        Assert.Equal((3L, 25.0, 50.0), (s["bmi"].N!.Value, s["bmi"].Mean!.Value, s["bmi"].M2!.Value));
        Assert.Equal(2, s["hba1c"].N);
        Assert.Equal(7.0, s["hba1c"].Mean!.Value, 1e-12);
        Assert.Equal(0.5, s["hba1c"].M2!.Value, 1e-12);
        Assert.Equal(2, s["type2_diabetes_patients"].Value); // p1 (twice) and p4
    }

    [Fact]
    public void The_same_input_gives_byte_identical_output()
    {
        string Run() => JsonSerializer.Serialize(
            CohortStatistics.Compute(Parse(Patients), Parse(Observations), Parse(Conditions), ReferenceDate), ProtocolJson.Options);

        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void No_data_gives_zero_counts_and_empty_moments_that_still_validate()
    {
        var result = CohortStatistics.Compute([], [], [], ReferenceDate);

        Assert.Empty(StatisticsResultValidator.Validate(Manifest, result));
        Assert.Equal(0, result.Statistics["patients"].Value);
        Assert.Equal(0, result.Statistics["bmi"].N);
        Assert.Null(result.Statistics["bmi"].Mean);
        Assert.All(result.Statistics["patients_by_gender"].Categories!.Values, v => Assert.Equal(0, v));
    }

    [Theory]
    [InlineData("1990-06-15", "2026-06-14", 35)]
    [InlineData("1990-06-15", "2026-06-15", 36)]
    [InlineData("2000-02-29", "2001-02-28", 0)]
    [InlineData("2000-02-29", "2001-03-01", 1)]
    [InlineData("2026-01-02", "2026-01-01", -1)]
    public void Age_counts_whole_years_completed(string birthDate, string at, int expected)
    {
        var patient = Json($$"""{"resourceType":"Patient","birthDate":"{{birthDate}}"}""");

        Assert.Equal(expected, CohortStatistics.AgeInYears(patient, DateOnly.Parse(at)));
    }

    [Theory]
    [InlineData("""{"birthDate":"1950-03-01","deceasedDateTime":"2000-02-28T23:59:00+01:00"}""", 49)]
    [InlineData("""{"birthDate":"1950-03-01","deceasedDateTime":"2000-03-01"}""", 50)]
    [InlineData("""{"birthDate":"1950-03-01","deceasedDateTime":"2030-01-01"}""", 75)]
    [InlineData("""{"birthDate":"1950-03-01","deceasedBoolean":false}""", 75)]
    [InlineData("""{"birthDate":"1950-03-01","deceasedBoolean":true}""", null)]
    [InlineData("""{"birthDate":"1950-03-01","deceasedDateTime":"2000"}""", null)]
    [InlineData("""{"birthDate":"1950-03"}""", null)]
    [InlineData("""{"birthDate":"1950-03-01T10:00:00Z"}""", 75)]
    [InlineData("""{"birthDate":"1950-03-01x"}""", null)]
    [InlineData("""{}""", null)]
    public void Age_stops_at_a_known_death_and_is_unknown_without_full_dates(string patient, int? expected)
    {
        Assert.Equal(expected, CohortStatistics.AgeInYears(Json(patient), ReferenceDate));
    }

    [Fact]
    public void A_resource_of_the_wrong_type_is_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => CohortStatistics.Compute(Parse(Observations), [], [], ReferenceDate));

        Assert.Contains("Observation", error.Message);
    }

    [Fact]
    public void The_train_program_reads_the_station_layout_and_writes_its_statistics()
    {
        using var folders = new TrainFolders();
        folders.WriteParameters("""{ "reference_date": "2026-01-01" }""");
        folders.WriteResources("Patient", Patients);
        folders.WriteResources("Observation", Observations);
        folders.WriteResources("Condition", Conditions);

        var (exitCode, stdout, stderr) = CohortStatsProcess.Run(folders);

        Assert.True(exitCode == 0, stderr);
        Assert.Equal(["statistics.json"], Directory.GetFiles(folders.Output).Select(Path.GetFileName));
        var expected = CohortStatistics.Compute(Parse(Patients), Parse(Observations), Parse(Conditions), ReferenceDate);
        Assert.Equal(JsonSerializer.Serialize(expected, ProtocolJson.Options), File.ReadAllText(Path.Combine(folders.Output, "statistics.json")));
        var line = Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("11 patients, 2 with type 2 diabetes, 3 BMI and 2 HbA1c observations", line);
    }

    [Fact]
    public void The_train_program_fails_clearly_on_a_malformed_line_and_writes_nothing()
    {
        using var folders = new TrainFolders();
        folders.WriteParameters("""{ "reference_date": "2026-01-01" }""");
        folders.WriteResources("Patient", Patients);
        folders.WriteResources("Observation", [Observations[0], """{"resourceType":"Observation",""", Observations[1]]);

        var (exitCode, _, stderr) = CohortStatsProcess.Run(folders);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("Observation.ndjson, line 2", stderr);
        Assert.False(File.Exists(Path.Combine(folders.Output, "statistics.json")));
    }

    [Fact]
    public void The_train_program_fails_clearly_on_a_mistyped_parameter()
    {
        using var folders = new TrainFolders();
        folders.WriteParameters("""{ "reference_date": "1 Jan 2026" }""");

        var (exitCode, _, stderr) = CohortStatsProcess.Run(folders);

        Assert.NotEqual(0, exitCode);
        Assert.Contains("'reference_date'", stderr);
        Assert.Contains("yyyy-MM-dd", stderr);
    }

    internal static JsonElement Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static IEnumerable<JsonElement> Parse(IEnumerable<string> lines) => lines.Select(Json);

    // At 2026-01-01. Genders: female p1 p7 p8 p11, male p2 p6 p9, other p5, unknown p3 (none) p4 (unknown) p10 (not a code).
    private static readonly string[] Patients =
    [
        """{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1990-01-01"}""",
        """{"resourceType":"Patient","id":"p2","gender":"male","birthDate":"1990-01-02"}""",
        """{"resourceType":"Patient","id":"p3","birthDate":"2025-06-30"}""",
        """{"resourceType":"Patient","id":"p4","gender":"unknown","birthDate":"1930-05-02","deceasedDateTime":"2000-05-01T08:00:00Z"}""",
        """{"resourceType":"Patient","id":"p5","gender":"other","birthDate":"1900-01-01","deceasedDateTime":"2030-01-01"}""",
        """{"resourceType":"Patient","id":"p6","gender":"male"}""",
        """{"resourceType":"Patient","id":"p7","gender":"female","birthDate":"1980"}""",
        """{"resourceType":"Patient","id":"p8","gender":"female","birthDate":"1950-01-01","deceasedBoolean":true}""",
        """{"resourceType":"Patient","id":"p9","gender":"male","birthDate":"1976-02-29","deceasedBoolean":false,"active":false}""",
        """{"resourceType":"Patient","id":"p10","gender":"Female","birthDate":"2027-01-01"}""",
        """{"resourceType":"Patient","id":"p11","gender":"female","birthDate":"1976-02-29"}""",
    ];

    private static string Observation(string code, string value, string subject = "Patient/p1", string status = "final", string system = "http://loinc.org") =>
        $$"""{"resourceType":"Observation","status":"{{status}}","code":{"coding":[{"system":"{{system}}","code":"{{code}}"}]},"subject":{"reference":"{{subject}}"}{{value}}}""";

    // BMI: 20, 30 and 25 count (mean 25, M2 50); HbA1c: 6.5 and 7.5 count (mean 7, M2 0.5).
    private static readonly string[] Observations =
    [
        Observation("39156-5", ""","valueQuantity":{"value":20,"unit":"kg/m2","system":"http://unitsofmeasure.org","code":"kg/m2"}"""),
        Observation("39156-5", ""","valueQuantity":{"value":30.0,"unit":"kg/m2"}""", subject: "urn:uuid:p2"),
        Observation("39156-5", ""","valueQuantity":{"value":2.5E1}""", subject: "Patient/p3", status: "amended"),
        Observation("39156-5", ""","valueQuantity":{"value":100,"code":"kg/m2"}""", status: "entered-in-error"),
        Observation("39156-5", ""","valueQuantity":{"value":70,"unit":"kg","code":"kg"}"""),
        Observation("39156-5", ""","valueQuantity":{"value":15,"comparator":"<","code":"kg/m2"}"""),
        Observation("39156-5", ""","valueQuantity":{"value":"27","code":"kg/m2"}"""),
        Observation("39156-5", ""","valueQuantity":{"unit":"kg/m2"}"""),
        Observation("39156-5", ""","valueString":"27","note":[]"""),
        Observation("39156-5", ""","dataAbsentReason":{"text":"refused"}"""),
        Observation("39156-5", ""","valueQuantity":{"value":22}""", system: "http://example.org/local-codes"),
        Observation("4548-4", ""","valueQuantity":{"value":6.5,"unit":"%","code":"%"}"""),
        Observation("4548-4", ""","valueQuantity":{"value":7.5,"unit":"%"}""", subject: "Patient/p2"),
        Observation("4548-4", ""","valueQuantity":{"value":48,"unit":"mmol/mol","code":"mmol/mol"}"""),
        Observation("2339-0", ""","valueQuantity":{"value":95,"unit":"mg/dL","code":"mg/dL"}"""),
        """{"resourceType":"Observation","status":"final","code":{"text":"no coding"},"valueQuantity":{"value":1}}""",
    ];

    private static string Condition(string subject, string code = "44054006", string? verification = null, string system = "http://snomed.info/sct")
    {
        var verificationStatus = verification is null ? ""
            : $$""","verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"{{verification}}"}]}""";
        return $$"""{"resourceType":"Condition","code":{"coding":[{"system":"{{system}}","code":"{{code}}"}]},"subject":{"reference":"{{subject}}"}{{verificationStatus}}}""";
    }

    // Type 2 diabetes counts for p1 (twice, once per reference form) and p4 only.
    private static readonly string[] Conditions =
    [
        Condition("Patient/p1", verification: "confirmed"),
        Condition("urn:uuid:p1"),
        Condition("Patient/p2", verification: "refuted"),
        Condition("Patient/p3", verification: "entered-in-error"),
        Condition("https://fhir.example.org/r4/Patient/p4/_history/2", verification: "provisional"),
        Condition("Patient/ghost"),
        Condition("Patient/p5", code: "15777000"),
        Condition("Patient/p6", code: "E11", system: "http://hl7.org/fhir/sid/icd-10-cm"),
        Condition("Group/p7"),
        """{"resourceType":"Condition","code":{"coding":[{"code":"44054006"}]},"subject":{"reference":"Patient/p8"}}""",
        """{"resourceType":"Condition","code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006"}]}}""",
    ];
}

/// <summary>The SMART Synthea R4 bundles from the shared data, converted once into a station's NDJSON input.</summary>
public sealed class SyntheaStation : IDisposable
{
    private static readonly string[] Types = ["Patient", "Observation", "Condition"];

    public SyntheaStation()
    {
        var archive = Path.Combine(RepoPaths.SharedData, "synthea-r4-ma-2019", "synthea-r4-ma-2019.tar.gz");
        if (!File.Exists(archive)) throw new FileNotFoundException($"the shared Synthea R4 archive is missing: {archive}");
        Folders.WriteParameters("""{ "reference_date": "2026-01-01" }""");
        var writers = Types.ToDictionary(t => t, t => new StreamWriter(Path.Combine(Folders.Input, "fhir", t + ".ndjson")));
        try
        {
            using var gzip = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is null || !entry.Name.Contains("/fhir/", StringComparison.Ordinal) || !entry.Name.EndsWith(".json", StringComparison.Ordinal))
                    continue;
                using var bundle = JsonDocument.Parse(entry.DataStream);
                foreach (var item in bundle.RootElement.GetProperty("entry").EnumerateArray())
                {
                    var resource = item.GetProperty("resource");
                    // Re-serialized, not copied raw: the bundles are indented and NDJSON needs one line per resource.
                    if (writers.TryGetValue(resource.GetProperty("resourceType").GetString()!, out var writer))
                        writer.WriteLine(JsonSerializer.Serialize(resource));
                }
            }
        }
        finally
        {
            foreach (var writer in writers.Values) writer.Dispose();
        }
    }

    public TrainFolders Folders { get; } = new();

    public void Dispose() => Folders.Dispose();
}

public sealed class CohortStatsRealDataTests(SyntheaStation station) : IClassFixture<SyntheaStation>
{
    [Fact]
    public void Synthea_R4_matches_the_data_readme_and_an_independent_computation()
    {
        var context = station.Folders.Context;

        var result = CohortStatistics.Compute(
            context.ReadResources("Patient"), context.ReadResources("Observation"), context.ReadResources("Condition"),
            context.Parameters.GetDate("reference_date"));

        var manifest = ManifestValidator.ParseOrThrow(File.ReadAllText(Path.Combine(RepoPaths.CohortStats, "train.json")));
        Assert.Empty(StatisticsResultValidator.Validate(manifest, result));
        var s = result.Statistics;
        // From /work/shared/data/README.md: 526 patients, 31 with type 2 diabetes, BMI x4,116, HbA1c x1,452.
        Assert.Equal(526, s["patients"].Value);
        Assert.Equal(31, s["type2_diabetes_patients"].Value);
        Assert.Equal(4116, s["bmi"].N);
        Assert.Equal(1452, s["hba1c"].N);
        // Computed separately in Python over the same bundles (statistics.fmean and the exact-rational statistics.variance).
        Assert.Equal(new Dictionary<string, double> { ["female"] = 249, ["male"] = 277, ["other"] = 0, ["unknown"] = 0 }, s["patients_by_gender"].Categories);
        Assert.Equal([28L, 41, 65, 60, 57, 73, 83, 60, 47, 7, 4, 1], s["age_years"].Counts!);
        Assert.Equal((0L, 0L), (s["age_years"].Underflow!.Value, s["age_years"].Overflow!.Value));
        AssertRelative(25.78754420243122, s["bmi"].Mean!.Value);
        AssertRelative(28.408459961068026, s["bmi"].M2!.Value / (4116 - 1));
        AssertRelative(5.886215133213655, s["hba1c"].Mean!.Value);
        AssertRelative(0.7895013169086905, s["hba1c"].M2!.Value / (1452 - 1));
    }

    [Fact]
    public void The_train_program_over_Synthea_R4_writes_what_Compute_returns()
    {
        var context = station.Folders.Context;
        var expected = CohortStatistics.Compute(
            context.ReadResources("Patient"), context.ReadResources("Observation"), context.ReadResources("Condition"), new DateOnly(2026, 1, 1));

        var (exitCode, stdout, stderr) = CohortStatsProcess.Run(station.Folders);

        Assert.True(exitCode == 0, stderr);
        Assert.Contains("526 patients, 31 with type 2 diabetes, 4116 BMI and 1452 HbA1c observations at 2026-01-01", stdout);
        Assert.Equal(JsonSerializer.Serialize(expected, ProtocolJson.Options), File.ReadAllText(Path.Combine(station.Folders.Output, "statistics.json")));
    }

    private static void AssertRelative(double expected, double actual) =>
        Assert.True(Math.Abs(actual - expected) <= 1e-12 * Math.Abs(expected), $"expected {expected:R}, got {actual:R}");
}
