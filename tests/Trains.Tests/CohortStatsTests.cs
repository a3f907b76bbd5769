using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HealthTrain.Cli.Images;
using HealthTrain.Examples.CohortStats;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Sdk;

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

/// <summary>cohort-stats' manifest as the image builder makes it: train.json with the named shared views put in.</summary>
internal static class CohortStatsManifest
{
    public static TrainManifest Load() => TrainImageBuilder.ReadManifest(RepoPaths.CohortStats).Manifest;
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

/// <summary>Rows as the station writes them for cohort-stats' three views: compact JSON, every column present, null where empty.</summary>
internal static class CohortRows
{
    public static string Patient(string? key, string? gender, string? birthDate, string? deceasedDateTime = null, bool? deceased = null) =>
        JsonSerializer.Serialize(new { patient_key = key, gender, birth_date = birthDate, deceased_date_time = deceasedDateTime, deceased });

    public static string Lab(string? key, string loinc, string? status, double? value, string? unit, string? comparator = null) =>
        JsonSerializer.Serialize(new { patient_key = key, loinc, status, value, unit, comparator });

    public static string Type2Diabetes(string? key, string? verificationStatus) =>
        JsonSerializer.Serialize(new { patient_key = key, verification_status = verificationStatus });

    public static JsonElement Json(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public static IEnumerable<JsonElement> Parse(IEnumerable<string> lines) => lines.Select(Json);
}

public sealed class CohortStatsTests
{
    private static readonly DateOnly ReferenceDate = new(2026, 1, 1);
    private const string Bmi = CohortStatistics.BmiCode;
    private const string HbA1c = CohortStatistics.HbA1cCode;

    private static TrainManifest Manifest => CohortStatsManifest.Load();

    [Fact]
    public void The_manifest_with_its_views_put_in_is_valid_and_matches_the_code()
    {
        var manifest = Manifest;

        Assert.Equal(("cohort-stats", "1.1.0", TrainKinds.Statistics), (manifest.Name, manifest.Version, manifest.Kind));
        Assert.Equal(
            [CohortStatistics.PatientsInput, CohortStatistics.LabsInput, CohortStatistics.Type2DiabetesInput],
            manifest.Inputs.Select(i => i.Name));
        Assert.All(manifest.Inputs, i => Assert.Equal((InputKinds.View, (string?)null, (string?)null), (i.Kind, i.ResourceType, i.Format)));
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

    [Theory]
    [InlineData(0, "patient_demographics", "Patient", new[] { "patient_key", "gender", "birth_date", "deceased_date_time", "deceased" })]
    [InlineData(1, "diabetes_labs", "Observation", new[] { "patient_key", "loinc", "status", "value", "unit", "comparator" })]
    [InlineData(2, "type2_diabetes_conditions", "Condition", new[] { "patient_key", "verification_status" })]
    public void Train_json_names_each_shared_view_and_the_image_carries_its_columns(int index, string viewName, string resource, string[] columns)
    {
        using var raw = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepoPaths.CohortStats, "train.json")));
        Assert.Equal(viewName, raw.RootElement.GetProperty("inputs")[index].GetProperty("view").GetString());

        var view = Manifest.Inputs[index].View!.Value;

        using var shared = JsonDocument.Parse(File.ReadAllText(Path.Combine(TrainImageBuilder.ViewsDirectory, viewName + ".json")));
        Assert.True(JsonElement.DeepEquals(shared.RootElement, view), view.GetRawText());
        Assert.Equal(resource, view.GetProperty("resource").GetString());
        // The columns CohortStatistics reads: a renamed column in the shared view must fail here, not count zero at a station.
        Assert.Equal(columns, view.GetProperty("select").EnumerateArray()
            .SelectMany(s => s.GetProperty("column").EnumerateArray()).Select(c => c.GetProperty("name").GetString()));
    }

    [Fact]
    public void A_hand_built_cohort_gives_the_known_answer()
    {
        var result = Compute(Patients, Labs, Conditions);

        Assert.Empty(StatisticsResultValidator.Validate(Manifest, result));
        var s = result.Statistics;
        Assert.Equal(11, s["patients"].Value);
        Assert.Equal(new Dictionary<string, double?> { ["female"] = 4, ["male"] = 3, ["other"] = 1, ["unknown"] = 3 }, s["patients_by_gender"].Categories);
        // p3 is 0; p1 36, p2 35; p9 and p11 49; p4 died at 69; p5 was 126 at the reference date; p10 is not born yet.
        Assert.Equal([1L, 0, 0, 2, 2, 0, 1, 0, 0, 0, 0, 0], s["age_years"].Counts!.Select(c => c!.Value));
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
        string Run() => JsonSerializer.Serialize(Compute(Patients, Labs, Conditions), ProtocolJson.Options);

        Assert.Equal(Run(), Run());
    }

    [Fact]
    public void No_rows_give_zero_counts_and_empty_moments_that_still_validate()
    {
        var result = CohortStatistics.Compute([], [], [], ReferenceDate);

        Assert.Empty(StatisticsResultValidator.Validate(Manifest, result));
        Assert.Equal(0, result.Statistics["patients"].Value);
        Assert.Equal(0, result.Statistics["type2_diabetes_patients"].Value);
        Assert.Equal((0L, (double?)null), (result.Statistics["bmi"].N!.Value, result.Statistics["bmi"].Mean));
        Assert.Equal((0L, (double?)null), (result.Statistics["hba1c"].N!.Value, result.Statistics["hba1c"].Mean));
        Assert.All(result.Statistics["patients_by_gender"].Categories!.Values, v => Assert.Equal(0, v));
        Assert.All(result.Statistics["age_years"].Counts!, c => Assert.Equal(0, c));
    }

    [Theory]
    [InlineData("1990-06-15", "2026-06-14", 35)]
    [InlineData("1990-06-15", "2026-06-15", 36)]
    [InlineData("2000-02-29", "2001-02-28", 0)]
    [InlineData("2000-02-29", "2001-03-01", 1)]
    [InlineData("2026-01-02", "2026-01-01", -1)]
    public void Age_counts_whole_years_completed(string birthDate, string at, int expected)
    {
        Assert.Equal(expected, CohortStatistics.AgeInYears(birthDate, null, null, DateOnly.ParseExact(at, "yyyy-MM-dd", CultureInfo.InvariantCulture)));
    }

    [Theory]
    [InlineData("1950-03-01", "2000-02-28T23:59:00+01:00", null, 49)]
    [InlineData("1950-03-01", "2000-03-01", null, 50)]
    [InlineData("1950-03-01", "2030-01-01", null, 75)]
    [InlineData("1950-03-01", null, false, 75)]
    [InlineData("1950-03-01", null, true, null)]
    [InlineData("1950-03-01", "2000", null, null)]
    [InlineData("1950-03-01", "2000-02", null, null)]
    [InlineData("1950-03", null, null, null)]
    [InlineData("1950", null, null, null)]
    [InlineData("1950-03-01T10:00:00Z", null, null, 75)]
    [InlineData("1950-03-01x", null, null, null)]
    [InlineData("1950-02-30", null, null, null)]
    [InlineData(null, null, null, null)]
    [InlineData(null, "2000-03-01", null, null)]
    public void Age_stops_at_a_known_death_and_is_unknown_without_full_dates(string? birthDate, string? deceasedDateTime, bool? deceased, int? expected)
    {
        Assert.Equal(expected, CohortStatistics.AgeInYears(birthDate, deceasedDateTime, deceased, ReferenceDate));
    }

    [Fact]
    public void Ages_come_from_the_patient_rows_death_columns()
    {
        var result = Compute(
        [
            CohortRows.Patient("Patient/a", "female", "1950-03-01", deceasedDateTime: "2000-02-28T23:59:00+01:00"), // 49
            CohortRows.Patient("Patient/b", "female", "1950-03-01", deceased: false), // 75
            CohortRows.Patient("Patient/c", "female", "1950-03-01", deceased: true), // unknown
            CohortRows.Patient("Patient/d", "female", "1950-03-01", deceasedDateTime: "2001"), // unknown
        ], [], []);

        Assert.Equal([0L, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0], result.Statistics["age_years"].Counts!);
    }

    [Fact]
    public void Labs_count_only_final_measurements_in_the_statistic_unit()
    {
        var result = Compute([],
        [
            CohortRows.Lab("Patient/a", Bmi, "final", 20, "kg/m2"),
            CohortRows.Lab("Patient/a", Bmi, "final", 40, "kg/m2", comparator: ">"),
            CohortRows.Lab("Patient/a", Bmi, "entered-in-error", 30, "kg/m2"),
            CohortRows.Lab("Patient/a", Bmi, "final", 70, "kg"),
            CohortRows.Lab("Patient/a", Bmi, "final", 22, "%"),
            CohortRows.Lab("Patient/a", Bmi, null, 24, null),
            CohortRows.Lab("Patient/a", Bmi, "final", null, "kg/m2"),
            CohortRows.Lab("Patient/a", HbA1c, "final", 6, "%"),
            CohortRows.Lab("Patient/a", HbA1c, "final", 48, "mmol/mol"),
            CohortRows.Lab("Patient/a", HbA1c, "final", 4, "%", comparator: "<"),
            CohortRows.Lab("Patient/a", HbA1c, "entered-in-error", 9, "%"),
            CohortRows.Lab("Patient/a", HbA1c, "corrected", 8, null),
            CohortRows.Lab("Patient/a", "2339-0", "final", 95, "mg/dL"),
        ], []);

        Assert.Equal((2L, 22.0), (result.Statistics["bmi"].N!.Value, result.Statistics["bmi"].Mean!.Value));
        Assert.Equal((2L, 7.0), (result.Statistics["hba1c"].N!.Value, result.Statistics["hba1c"].Mean!.Value));
    }

    [Fact]
    public void Type2_diabetes_joins_on_the_exact_patient_key_and_counts_each_patient_once()
    {
        var result = Compute(
        [
            CohortRows.Patient("Patient/a", "female", null),
            CohortRows.Patient("Patient/b", "male", null),
            CohortRows.Patient("Patient/c", "male", null),
            CohortRows.Patient(null, "other", null),
        ],
        [],
        [
            CohortRows.Type2Diabetes("Patient/a", "confirmed"),
            CohortRows.Type2Diabetes("Patient/a", null),
            CohortRows.Type2Diabetes("a", "confirmed"),
            CohortRows.Type2Diabetes("Patient/A", "confirmed"),
            CohortRows.Type2Diabetes("Patient/ghost", "confirmed"),
            CohortRows.Type2Diabetes(null, "confirmed"),
            CohortRows.Type2Diabetes("Patient/b", "refuted"),
            CohortRows.Type2Diabetes("Patient/b", "unconfirmed"),
            CohortRows.Type2Diabetes("Patient/c", "refuted"),
            CohortRows.Type2Diabetes("Patient/c", "entered-in-error"),
        ]);

        Assert.Equal(4, result.Statistics["patients"].Value);
        Assert.Equal(2, result.Statistics["type2_diabetes_patients"].Value); // a, and b through its unrefuted condition
    }

    [Theory]
    [InlineData(0, """{"patient_key":"Patient/x","gender":"male","deceased_date_time":null,"deceased":null}""", "'patients', row 2", "'birth_date'")]
    [InlineData(0, """{"patient_key":"Patient/x","gender":"male","birth_date":19560803,"deceased_date_time":null,"deceased":null}""", "'patients', row 2", "'birth_date'")]
    [InlineData(0, """{"patient_key":"Patient/x","gender":"male","birth_date":null,"deceased_date_time":null,"deceased":"true"}""", "'patients', row 2", "'deceased'")]
    [InlineData(1, """{"patient_key":"Patient/x","loinc":"39156-5","status":"final","value":"27","unit":"kg/m2","comparator":null}""", "'labs', row 2", "'value'")]
    [InlineData(1, """{"patient_key":"Patient/x","loinc":"39156-5","status":"final","value":27,"unit":"kg/m2"}""", "'labs', row 2", "'comparator'")]
    [InlineData(2, """{"patient_key":"Patient/x"}""", "'type2_diabetes', row 2", "'verification_status'")]
    [InlineData(2, """["Patient/x","confirmed"]""", "'type2_diabetes', row 2", "JSON object")]
    public void A_row_without_the_views_columns_is_an_input_error_naming_input_row_and_column(int input, string badRow, string where, string what)
    {
        string[][] views = [[Patients[0], Patients[1]], [Labs[0], Labs[1]], [Conditions[0], Conditions[1]]];
        views[input][1] = badRow;

        var error = Assert.Throws<TrainInputException>(() => Compute(views[0], views[1], views[2]));

        Assert.Contains(where, error.Message);
        Assert.Contains(what, error.Message);
    }

    [Fact]
    public void Rows_of_another_view_are_refused()
    {
        var error = Assert.Throws<TrainInputException>(() => Compute(Labs, [], []));

        Assert.Contains("'patients'", error.Message);
        Assert.Contains("'gender'", error.Message);
    }

    /// <summary>
    /// A cohort the size of the shared Synthea R4 set (its README: 526 patients, 31 with type 2 diabetes, BMI ×4,116,
    /// HbA1c ×1,452), generated with the exclusions mixed in, against a separate, plain computation of each statistic.
    /// </summary>
    [Fact]
    public void A_generated_cohort_of_the_shared_data_sets_size_matches_an_independent_computation()
    {
        var random = new Random(20260101);
        string? Pick(params string?[] values) => values[random.Next(values.Length)];
        string Day(int fromYear, int toYear) =>
            new DateOnly(fromYear, 1, 1).AddDays(random.Next(new DateOnly(toYear, 1, 1).DayNumber - new DateOnly(fromYear, 1, 1).DayNumber)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

        var patients = Enumerable.Range(0, 526).Select(i =>
        {
            var birth = random.Next(20) == 0 ? Pick("1970", "1981-05", null) : Day(1905, 2026);
            return random.Next(6) switch
            {
                0 => CohortRows.Patient($"Patient/{i}", Pick("female", "male", "other", "unknown", null, "F"), birth, deceasedDateTime: Day(1990, 2030) + Pick("", "T08:30:00Z")),
                1 => CohortRows.Patient($"Patient/{i}", Pick("female", "male"), birth, deceased: random.Next(2) == 0),
                2 => CohortRows.Patient($"Patient/{i}", Pick("female", "male"), birth, deceasedDateTime: Pick("2001", "2010-07")),
                _ => CohortRows.Patient($"Patient/{i}", Pick("female", "male"), birth),
            };
        }).ToList();
        var bmiValues = Enumerable.Range(0, 4116).Select(_ => 15 + random.NextDouble() * 30).ToList();
        var hba1cValues = Enumerable.Range(0, 1452).Select(_ => 4 + random.NextDouble() * 8).ToList();
        var labs = bmiValues.Select(x => CohortRows.Lab($"Patient/{random.Next(526)}", Bmi, Pick("final", "amended", null), x, Pick("kg/m2", null)))
            .Concat(hba1cValues.Select(x => CohortRows.Lab($"Patient/{random.Next(526)}", HbA1c, Pick("final", "corrected"), x, Pick("%", null))))
            .Concat(Enumerable.Range(0, 300).Select(_ => random.Next(5) switch
            {
                0 => CohortRows.Lab("Patient/1", Pick(Bmi, HbA1c)!, "entered-in-error", 99, Pick("kg/m2", "%", null)),
                1 => CohortRows.Lab("Patient/1", Bmi, "final", 70, Pick("kg", "%")),
                2 => CohortRows.Lab("Patient/1", HbA1c, "final", 48, "mmol/mol", comparator: Pick(null, "<")),
                3 => CohortRows.Lab("Patient/1", Pick(Bmi, HbA1c)!, "final", null, Pick("kg/m2", "%", null)),
                _ => CohortRows.Lab("Patient/1", Pick(Bmi, HbA1c)!, "final", 3, Pick("kg/m2", "%", null), comparator: Pick("<", ">=", "<=", ">")),
            }))
            .OrderBy(_ => random.Next()).ToList();
        var diabetic = Enumerable.Range(0, 526).OrderBy(_ => random.Next()).Take(31).ToList();
        var conditions = diabetic.SelectMany(i => Enumerable.Repeat(CohortRows.Type2Diabetes($"Patient/{i}", Pick("confirmed", null, "provisional")), 1 + random.Next(3)))
            .Concat(Enumerable.Range(0, 40).Select(_ => CohortRows.Type2Diabetes($"Patient/{random.Next(526)}", Pick("refuted", "entered-in-error"))))
            .Concat(Enumerable.Range(0, 10).Select(i => CohortRows.Type2Diabetes(Pick($"Patient/ghost{i}", null, $"Group/{i}"), "confirmed")))
            .OrderBy(_ => random.Next()).ToList();

        var result = Compute(patients, labs, conditions);

        Assert.Empty(StatisticsResultValidator.Validate(Manifest, result));
        var s = result.Statistics;
        Assert.Equal((526.0, 31.0, 4116L, 1452L), (s["patients"].Value!.Value, s["type2_diabetes_patients"].Value!.Value, s["bmi"].N!.Value, s["hba1c"].N!.Value));
        // Independently: genders by grouping, ages by comparing month-day text, moments in two passes.
        var rows = CohortRows.Parse(patients).ToList();
        string? Text(JsonElement row, string column) => row.GetProperty(column).ValueKind == JsonValueKind.Null ? null : row.GetProperty(column).GetString();
        var genders = rows.GroupBy(r => Text(r, "gender") is "female" or "male" or "other" ? Text(r, "gender")! : "unknown").ToDictionary(g => g.Key, g => (double)g.Count());
        Assert.Equal(CohortStatistics.Genders.ToDictionary(g => g, g => (double?)genders.GetValueOrDefault(g)), s["patients_by_gender"].Categories);
        var ages = rows.Select(r => ReferenceAge(Text(r, "birth_date"), Text(r, "deceased_date_time"), r.GetProperty("deceased").ValueKind == JsonValueKind.True))
            .OfType<int>().ToList();
        Assert.True(ages.Count > 300, $"only {ages.Count} known ages");
        Assert.Equal(Enumerable.Range(0, 12).Select(b => (long?)ages.Count(a => a / 10 == b && a >= 0)), s["age_years"].Counts!);
        Assert.Equal((ages.Count(a => a < 0), ages.Count(a => a >= 120)), ((int)s["age_years"].Underflow!.Value, (int)s["age_years"].Overflow!.Value));
        AssertMoments(bmiValues, s["bmi"]);
        AssertMoments(hba1cValues, s["hba1c"]);
    }

    [Fact]
    public void The_train_program_reads_the_station_views_and_writes_its_statistics()
    {
        using var folders = new TrainFolders();
        folders.WriteParameters("""{ "reference_date": "2026-01-01" }""");
        folders.WriteView("patients", Patients);
        folders.WriteView("labs", Labs);
        folders.WriteView("type2_diabetes", Conditions);

        var (exitCode, stdout, stderr) = CohortStatsProcess.Run(folders);

        Assert.True(exitCode == 0, stderr);
        Assert.Equal(["statistics.json"], Directory.GetFiles(folders.Output).Select(Path.GetFileName));
        var expected = Compute(Patients, Labs, Conditions);
        Assert.Equal(JsonSerializer.Serialize(expected, ProtocolJson.Options), File.ReadAllText(Path.Combine(folders.Output, "statistics.json")));
        var line = Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("11 patients, 2 with type 2 diabetes, 3 BMI and 2 HbA1c observations at 2026-01-01", line);
    }

    [Fact]
    public void The_train_program_over_empty_views_writes_empty_statistics()
    {
        using var folders = new TrainFolders();
        folders.WriteParameters("""{ "reference_date": "2026-01-01" }""");
        foreach (var view in new[] { "patients", "labs", "type2_diabetes" }) folders.WriteView(view, []);

        var (exitCode, stdout, stderr) = CohortStatsProcess.Run(folders);

        Assert.True(exitCode == 0, stderr);
        Assert.Contains("0 patients, 0 with type 2 diabetes, 0 BMI and 0 HbA1c observations", stdout);
        var (read, errors) = StatisticsResultValidator.Parse(Manifest, File.ReadAllText(Path.Combine(folders.Output, "statistics.json")));
        Assert.Empty(errors);
        Assert.Equal(0, read!.Statistics["patients"].Value);
    }

    [Fact]
    public void The_train_program_fails_clearly_on_a_malformed_line_and_writes_nothing()
    {
        using var folders = new TrainFolders();
        folders.WriteParameters("""{ "reference_date": "2026-01-01" }""");
        folders.WriteView("patients", Patients);
        folders.WriteView("labs", [Labs[0], """{"patient_key":"Patient/p1",""", Labs[1]]);
        folders.WriteView("type2_diabetes", Conditions);

        var (exitCode, _, stderr) = CohortStatsProcess.Run(folders);

        Assert.Equal(2, exitCode);
        Assert.Contains("labs.ndjson, line 2", stderr);
        Assert.False(File.Exists(Path.Combine(folders.Output, "statistics.json")));
    }

    [Fact]
    public void The_train_program_fails_clearly_on_an_undelivered_view_and_writes_nothing()
    {
        using var folders = new TrainFolders();
        folders.WriteParameters("""{ "reference_date": "2026-01-01" }""");
        folders.WriteView("patients", Patients);
        folders.WriteView("labs", Labs);

        var (exitCode, _, stderr) = CohortStatsProcess.Run(folders);

        Assert.Equal(2, exitCode);
        Assert.Contains("view input 'type2_diabetes'", stderr);
        Assert.False(File.Exists(Path.Combine(folders.Output, "statistics.json")));
    }

    [Fact]
    public void The_train_program_fails_clearly_on_a_mistyped_parameter()
    {
        using var folders = new TrainFolders();
        folders.WriteParameters("""{ "reference_date": "1 Jan 2026" }""");

        var (exitCode, _, stderr) = CohortStatsProcess.Run(folders);

        Assert.Equal(2, exitCode);
        Assert.Contains("'reference_date'", stderr);
        Assert.Contains("yyyy-MM-dd", stderr);
    }

    private static StatisticsResult Compute(IEnumerable<string> patients, IEnumerable<string> labs, IEnumerable<string> type2Diabetes) =>
        CohortStatistics.Compute(CohortRows.Parse(patients), CohortRows.Parse(labs), CohortRows.Parse(type2Diabetes), ReferenceDate);

    /// <summary>The age rule written a second way: completed years, the birthday reached when its "MM-dd" text is.</summary>
    private static int? ReferenceAge(string? birthDate, string? deceasedDateTime, bool deceased)
    {
        static bool FullDay(string? text, out DateOnly date)
        {
            date = default;
            return text is not null && (text.Length == 10 || (text.Length > 10 && text[10] == 'T'))
                   && DateOnly.TryParseExact(text[..10], "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out date);
        }

        if (!FullDay(birthDate, out var birth)) return null;
        var at = ReferenceDate;
        if (deceasedDateTime is not null)
        {
            if (!FullDay(deceasedDateTime, out var death)) return null;
            at = death < at ? death : at;
        }
        else if (deceased) return null;
        var birthdayReached = string.CompareOrdinal(at.ToString("MM-dd", CultureInfo.InvariantCulture), birth.ToString("MM-dd", CultureInfo.InvariantCulture)) >= 0;
        return at.Year - birth.Year - (birthdayReached ? 0 : 1);
    }

    private static void AssertMoments(IReadOnlyList<double> values, StatisticValue statistic)
    {
        var mean = values.Sum() / values.Count;
        var m2 = values.Sum(x => (x - mean) * (x - mean));
        Assert.Equal(values.Count, statistic.N);
        Assert.True(Math.Abs(statistic.Mean!.Value - mean) <= 1e-12 * mean, $"mean {statistic.Mean:R}, expected {mean:R}");
        Assert.True(Math.Abs(statistic.M2!.Value - m2) <= 1e-9 * m2, $"M2 {statistic.M2:R}, expected {m2:R}");
    }

    // At 2026-01-01. Genders: female p1 p7 p8 p11, male p2 p6 p9, other p5, unknown p3 (null) p4 (unknown) p10 (not a code).
    private static readonly string[] Patients =
    [
        CohortRows.Patient("Patient/p1", "female", "1990-01-01"),
        CohortRows.Patient("Patient/p2", "male", "1990-01-02"),
        CohortRows.Patient("Patient/p3", null, "2025-06-30"),
        CohortRows.Patient("Patient/p4", "unknown", "1930-05-02", deceasedDateTime: "2000-05-01T08:00:00Z"),
        CohortRows.Patient("Patient/p5", "other", "1900-01-01", deceasedDateTime: "2030-01-01"),
        CohortRows.Patient("Patient/p6", "male", null),
        CohortRows.Patient("Patient/p7", "female", "1980"),
        CohortRows.Patient("Patient/p8", "female", "1950-01-01", deceased: true),
        CohortRows.Patient("Patient/p9", "male", "1976-02-29", deceased: false),
        CohortRows.Patient("Patient/p10", "Female", "2027-01-01"),
        CohortRows.Patient("Patient/p11", "female", "1976-02-29"),
    ];

    // BMI: 20, 30 and 25 count (mean 25, M2 50); HbA1c: 6.5 and 7.5 count (mean 7, M2 0.5). Labs are not joined to patients.
    private static readonly string[] Labs =
    [
        CohortRows.Lab("Patient/p1", Bmi, "final", 20, "kg/m2"),
        CohortRows.Lab("Patient/p2", Bmi, "final", 30.0, "kg/m2"),
        CohortRows.Lab(null, Bmi, "amended", 25, null),
        CohortRows.Lab("Patient/p1", Bmi, "entered-in-error", 100, "kg/m2"),
        CohortRows.Lab("Patient/p1", Bmi, "final", 70, "kg"),
        CohortRows.Lab("Patient/p1", Bmi, "final", 15, "kg/m2", comparator: "<"),
        CohortRows.Lab("Patient/p1", Bmi, "final", null, "kg/m2"),
        CohortRows.Lab("Patient/p1", Bmi, "final", null, null),
        CohortRows.Lab("Patient/p1", HbA1c, "final", 6.5, "%"),
        CohortRows.Lab("Patient/p2", HbA1c, "final", 7.5, null),
        CohortRows.Lab("Patient/p1", HbA1c, "final", 48, "mmol/mol"),
        CohortRows.Lab("Patient/p1", HbA1c, "entered-in-error", 9, "%"),
        CohortRows.Lab("Patient/p1", HbA1c, "final", 14, "%", comparator: ">"),
    ];

    // Type 2 diabetes counts for p1 (twice) and p4 only.
    private static readonly string[] Conditions =
    [
        CohortRows.Type2Diabetes("Patient/p1", "confirmed"),
        CohortRows.Type2Diabetes("Patient/p1", null),
        CohortRows.Type2Diabetes("Patient/p2", "refuted"),
        CohortRows.Type2Diabetes("Patient/p3", "entered-in-error"),
        CohortRows.Type2Diabetes("Patient/p4", "provisional"),
        CohortRows.Type2Diabetes("Patient/ghost", "confirmed"),
        CohortRows.Type2Diabetes(null, "confirmed"),
    ];
}
