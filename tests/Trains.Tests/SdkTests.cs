using System.Text;
using System.Text.Json;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Sdk;

namespace HealthTrain.Trains.Tests;

/// <summary>A throw-away station layout: <c>input/parameters.json</c>, <c>input/fhir/*.ndjson</c>, <c>input/views/*.ndjson</c> and <c>output/</c>.</summary>
public sealed class TrainFolders : IDisposable
{
    public TrainFolders()
    {
        Root = Directory.CreateTempSubdirectory("healthtrain-train-").FullName;
        Directory.CreateDirectory(Path.Combine(Input, "fhir"));
    }

    public string Root { get; }
    public string Input => Path.Combine(Root, "input");
    public string Output => Path.Combine(Root, "output");
    public TrainContext Context => new(Input, Output);

    public void WriteParameters(string json) => File.WriteAllText(Path.Combine(Input, TrainContext.ParametersFileName), json);

    public string WriteResources(string resourceType, IEnumerable<string> lines)
    {
        var path = Path.Combine(Input, "fhir", resourceType + ".ndjson");
        File.WriteAllLines(path, lines);
        return path;
    }

    /// <summary>Writes <c>input/views/{name}.ndjson</c>, one line per row, as a station delivers a view input.</summary>
    public string WriteView(string name, IEnumerable<string> lines)
    {
        var path = Path.Combine(Input, "views", name + ".ndjson");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllLines(path, lines);
        return path;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

public sealed class SdkTests : IDisposable
{
    private readonly TrainFolders folders = new();

    public void Dispose() => folders.Dispose();

    [Fact]
    public void FromEnvironment_uses_the_station_mounts_unless_overridden()
    {
        var (input, output) = (Environment.GetEnvironmentVariable(TrainContext.InputVariable), Environment.GetEnvironmentVariable(TrainContext.OutputVariable));
        try
        {
            Environment.SetEnvironmentVariable(TrainContext.InputVariable, null);
            Environment.SetEnvironmentVariable(TrainContext.OutputVariable, null);
            var station = TrainContext.FromEnvironment();
            Assert.Equal("/input", station.InputDirectory);
            Assert.Equal("/output", station.OutputDirectory);

            Environment.SetEnvironmentVariable(TrainContext.InputVariable, folders.Input);
            Environment.SetEnvironmentVariable(TrainContext.OutputVariable, folders.Output);
            var local = TrainContext.FromEnvironment();
            Assert.Equal(folders.Input, local.InputDirectory);
            Assert.Equal(folders.Output, local.OutputDirectory);
        }
        finally
        {
            Environment.SetEnvironmentVariable(TrainContext.InputVariable, input);
            Environment.SetEnvironmentVariable(TrainContext.OutputVariable, output);
        }
    }

    [Fact]
    public void Parameters_are_read_by_name_and_type()
    {
        folders.WriteParameters("""{ "site": "Boston", "k": 5, "alpha": 0.05, "big": 3000000000, "strict": true, "reference_date": "2024-02-29" }""");
        var parameters = folders.Context.Parameters;

        Assert.Equal("Boston", parameters.GetString("site"));
        Assert.Equal(5, parameters.GetInt("k"));
        Assert.Equal(0.05, parameters.GetDouble("alpha"));
        Assert.Equal(5.0, parameters.GetDouble("k"));
        Assert.Equal(3e9, parameters.GetDouble("big"));
        Assert.True(parameters.GetBool("strict"));
        Assert.Equal(new DateOnly(2024, 2, 29), parameters.GetDate("reference_date"));
    }

    [Theory]
    [InlineData("missing", "GetString", "'missing' is missing from")]
    [InlineData("site", "GetInt", "'site'", "must be an integer", "\"Boston\"")]
    [InlineData("alpha", "GetInt", "'alpha'", "must be an integer", "0.05")]
    [InlineData("big", "GetInt", "'big'", "fits 32 bits", "3000000000")]
    [InlineData("k", "GetString", "'k'", "must be a string", "5")]
    [InlineData("site", "GetDouble", "'site'", "must be a number")]
    [InlineData("k", "GetBool", "'k'", "true or false")]
    [InlineData("site", "GetDate", "'site'", "yyyy-MM-dd", "\"Boston\"")]
    [InlineData("us_date", "GetDate", "'us_date'", "yyyy-MM-dd", "\"01/31/2026\"")]
    [InlineData("no_day", "GetDate", "'no_day'", "yyyy-MM-dd")]
    public void A_missing_or_mistyped_parameter_says_which_and_why(string name, string getter, params string[] expected)
    {
        folders.WriteParameters("""{ "site": "Boston", "k": 5, "alpha": 0.05, "big": 3000000000, "us_date": "01/31/2026", "no_day": "2026-01" }""");
        var parameters = folders.Context.Parameters;
        Action read = getter switch
        {
            "GetString" => () => parameters.GetString(name),
            "GetInt" => () => parameters.GetInt(name),
            "GetDouble" => () => parameters.GetDouble(name),
            "GetBool" => () => parameters.GetBool(name),
            "GetDate" => () => parameters.GetDate(name),
            _ => throw new ArgumentException(getter),
        };

        var error = Assert.Throws<TrainInputException>(read);

        foreach (var part in expected) Assert.Contains(part, error.Message);
        Assert.Contains(TrainContext.ParametersFileName, error.Message);
    }

    [Fact]
    public void Without_a_parameters_file_a_parameter_is_missing_and_says_so()
    {
        var context = folders.Context; // touching nothing yet: a train without parameters never needs the file

        var error = Assert.Throws<TrainInputException>(() => context.Parameters.GetDate("reference_date"));

        Assert.Contains("'reference_date'", error.Message);
        Assert.Contains("does not exist", error.Message);
    }

    [Theory]
    [InlineData("[1, 2]", "JSON object")]
    [InlineData("{ \"k\": ", "not valid JSON")]
    public void A_parameters_file_that_is_no_json_object_is_an_input_error(string json, string expected)
    {
        folders.WriteParameters(json);

        var error = Assert.Throws<TrainInputException>(() => folders.Context.Parameters);

        Assert.Contains(expected, error.Message);
        Assert.Contains(TrainContext.ParametersFileName, error.Message);
    }

    [Fact]
    public void ReadResources_streams_each_line_and_the_elements_outlive_the_enumeration()
    {
        folders.WriteResources("Patient",
        [
            """{"resourceType":"Patient","id":"a","name":[{"family":"Ng"}]}""",
            "",
            "   ",
            """{"resourceType":"Patient","id":"b","gender":"female"}""",
            """{"resourceType":"Patient","id":"c"}""",
        ]);

        var patients = folders.Context.ReadResources("Patient").ToList();

        // Read only after enumeration finished: each element must own its memory.
        Assert.Equal(["a", "b", "c"], patients.Select(p => p.GetProperty("id").GetString()));
        Assert.Equal("Ng", patients[0].GetProperty("name")[0].GetProperty("family").GetString());
        Assert.Equal("female", patients[1].GetProperty("gender").GetString());
    }

    [Fact]
    public void ReadResources_accepts_a_byte_order_mark()
    {
        var path = Path.Combine(folders.Input, "fhir", "Condition.ndjson");
        File.WriteAllText(path, """{"resourceType":"Condition","id":"x"}""" + "\n", new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));

        Assert.Equal("x", Assert.Single(folders.Context.ReadResources("Condition")).GetProperty("id").GetString());
    }

    [Fact]
    public void ReadResources_of_an_undelivered_type_is_empty()
    {
        Assert.Empty(folders.Context.ReadResources("Observation"));
    }

    [Theory]
    [InlineData("""{"resourceType":"Observation","id":""", "not valid JSON")]
    [InlineData("""[{"resourceType":"Observation"}]""", "must be a JSON object")]
    [InlineData("""{"resourceType":"Patient","id":"p"}""", "Patient")]
    public void A_malformed_line_names_its_file_and_line_after_the_good_lines_before_it(string badLine, string expected)
    {
        folders.WriteResources("Observation",
        [
            """{"resourceType":"Observation","id":"1"}""",
            "",
            """{"resourceType":"Observation","id":"2"}""",
            badLine,
            """{"resourceType":"Observation","id":"5"}""",
        ]);
        var read = new List<string?>();

        var error = Assert.Throws<TrainInputException>(() =>
        {
            foreach (var observation in folders.Context.ReadResources("Observation"))
                read.Add(observation.GetProperty("id").GetString());
        });

        Assert.Equal(["1", "2"], read);
        Assert.Contains("Observation.ndjson, line 4", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("patient")]
    [InlineData("../parameters")]
    [InlineData("Patient.ndjson")]
    [InlineData("")]
    public void ReadResources_refuses_a_name_that_is_no_resource_type_at_the_call(string resourceType)
    {
        Assert.Throws<ArgumentException>(() => folders.Context.ReadResources(resourceType));
    }

    [Fact]
    public void ReadView_streams_each_row_and_the_elements_outlive_the_enumeration()
    {
        folders.WriteView("labs",
        [
            """{"patient_key":"Patient/9823","loinc":"39156-5","status":"final","value":30.555399318130803,"unit":"kg/m2","comparator":null}""",
            "",
            "   ",
            """{"patient_key":"Patient/ab4e","loinc":"4548-4","status":"final","value":6.1,"unit":"%","comparator":null}""",
            """{"patient_key":null,"loinc":"4548-4","status":"amended","value":null,"unit":null,"comparator":null}""",
        ]);

        var rows = folders.Context.ReadView("labs").ToList();

        // Read only after enumeration finished: each element must own its memory.
        Assert.Equal(["Patient/9823", "Patient/ab4e", null], rows.Select(r => r.GetProperty("patient_key").GetString()));
        Assert.Equal(30.555399318130803, rows[0].GetProperty("value").GetDouble());
        Assert.Equal("%", rows[1].GetProperty("unit").GetString());
        Assert.Equal(JsonValueKind.Null, rows[2].GetProperty("value").ValueKind);
    }

    [Fact]
    public void ReadView_accepts_a_byte_order_mark()
    {
        var path = folders.WriteView("patients", []);
        File.WriteAllText(path, """{"patient_key":"Patient/x","gender":"male"}""" + "\n", new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));

        Assert.Equal("Patient/x", Assert.Single(folders.Context.ReadView("patients")).GetProperty("patient_key").GetString());
    }

    [Fact]
    public void ReadView_of_an_empty_view_is_empty()
    {
        folders.WriteView("type2_diabetes", []);

        Assert.Empty(folders.Context.ReadView("type2_diabetes"));
    }

    [Fact]
    public void ReadView_of_an_undelivered_view_fails_at_the_call_naming_the_input()
    {
        folders.WriteView("labs", []);

        var error = Assert.Throws<TrainInputException>(() => folders.Context.ReadView("patients"));

        Assert.Contains("'patients'", error.Message);
        Assert.Contains(Path.Combine(folders.Input, "views", "patients.ndjson"), error.Message);
    }

    [Fact]
    public void ReadView_of_a_file_removed_before_reading_is_an_input_error()
    {
        var path = folders.WriteView("patients", ["""{"patient_key":"Patient/x"}"""]);
        var rows = folders.Context.ReadView("patients");
        File.Delete(path);

        var error = Assert.Throws<TrainInputException>(() => rows.ToList());

        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void ReadView_does_not_read_fhir_resources_of_the_same_name()
    {
        folders.WriteResources("Patient", ["""{"resourceType":"Patient","id":"a"}"""]);

        Assert.Throws<TrainInputException>(() => folders.Context.ReadView("patient"));
    }

    [Theory]
    [InlineData("""{"patient_key":"Patient/x",""", "not valid JSON")]
    [InlineData("""["Patient/x","male"]""", "a row must be a JSON object")]
    [InlineData("null", "a row must be a JSON object")]
    public void A_malformed_view_line_names_its_file_and_line_after_the_good_lines_before_it(string badLine, string expected)
    {
        folders.WriteView("patients",
        [
            """{"patient_key":"Patient/1"}""",
            "",
            """{"patient_key":"Patient/2","resourceType":"Observation"}""",
            badLine,
            """{"patient_key":"Patient/5"}""",
        ]);
        var read = new List<string?>();

        var error = Assert.Throws<TrainInputException>(() =>
        {
            foreach (var row in folders.Context.ReadView("patients"))
                read.Add(row.GetProperty("patient_key").GetString());
        });

        Assert.Equal(["Patient/1", "Patient/2"], read);
        Assert.Contains("patients.ndjson, line 4", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("Patients")]
    [InlineData("2labs")]
    [InlineData("_labs")]
    [InlineData("lab-results")]
    [InlineData("../parameters")]
    [InlineData("labs.ndjson")]
    [InlineData("")]
    [InlineData(null)]
    public void ReadView_refuses_a_name_that_is_no_view_input_name_at_the_call(string? name)
    {
        folders.WriteView("labs", []);

        Assert.Throws<ArgumentException>(() => folders.Context.ReadView(name!));
    }

    [Fact]
    public void WriteStatistics_writes_protocol_json_the_validator_accepts()
    {
        var manifest = CohortStatsManifest.Load();
        var bmi = new MeanVarianceAccumulator();
        foreach (var x in new[] { 21.5, 30.25, 24.0 }) bmi.Add(x);
        var result = new StatisticsResult
        {
            Statistics = new()
            {
                ["patients"] = Statistic.Count(3),
                ["patients_by_gender"] = new CategoryCounter(["female", "male", "other", "unknown"]).ToStatistic(),
                ["age_years"] = new HistogramAccumulator(manifest.Outputs.Statistics.Single(s => s.Name == "age_years").Bins!).ToStatistic(),
                ["bmi"] = bmi.ToVariance(),
                ["hba1c"] = new MeanVarianceAccumulator().ToVariance(),
                ["type2_diabetes_patients"] = Statistic.Count(0),
            },
        };

        var path = folders.Context.WriteStatistics(result);

        Assert.Equal(Path.Combine(folders.Output, StatisticsResult.FileName), path);
        var json = File.ReadAllText(path);
        Assert.Contains("\"kind\":\"variance\"", json);
        Assert.DoesNotContain("null", json);
        var (read, errors) = StatisticsResultValidator.Parse(manifest, json);
        Assert.Empty(errors);
        Assert.Equal(3, read!.Statistics["bmi"].N);
        Assert.Equal(bmi.M2, read.Statistics["bmi"].M2);
        Assert.Equal(0, read.Statistics["hba1c"].N);
    }

    [Fact]
    public void Welford_matches_the_textbook_example()
    {
        var accumulator = new MeanVarianceAccumulator();
        foreach (var x in new double[] { 2, 4, 4, 4, 5, 5, 7, 9 }) accumulator.Add(x);

        Assert.Equal(8, accumulator.N);
        Assert.Equal(5.0, accumulator.Mean);
        Assert.Equal(32.0, accumulator.M2);
        Assert.Equal(32.0 / 7, accumulator.Variance);
        var variance = accumulator.ToVariance();
        Assert.Equal((StatisticKinds.Variance, 8L, 5.0, 32.0), (variance.Kind, variance.N!.Value, variance.Mean!.Value, variance.M2!.Value));
        var mean = accumulator.ToMean();
        Assert.Equal((StatisticKinds.Mean, 8L, 5.0), (mean.Kind, mean.N!.Value, mean.Mean!.Value));
        Assert.Null(mean.M2);
    }

    [Fact]
    public void Welford_agrees_with_two_passes_and_survives_a_large_offset()
    {
        var random = new Random(20260101);
        var values = Enumerable.Range(0, 10_000).Select(_ => 1e9 + random.NextDouble() * 100).ToArray();
        var accumulator = new MeanVarianceAccumulator();
        foreach (var x in values) accumulator.Add(x);

        var mean = values.Average();
        var m2 = values.Sum(x => (x - mean) * (x - mean));
        Assert.Equal(mean, accumulator.Mean!.Value, mean * 1e-14);
        Assert.Equal(m2, accumulator.M2!.Value, m2 * 1e-6);
        // The naive sum-of-squares formula loses every digit here; Welford keeps the variance of U(0, 100), about 833.
        Assert.InRange(accumulator.Variance!.Value, 800, 870);
    }

    [Fact]
    public void Welford_with_zero_or_one_value_has_no_variance()
    {
        var accumulator = new MeanVarianceAccumulator();
        Assert.Equal((0L, (double?)null, (double?)null, (double?)null), (accumulator.N, accumulator.Mean, accumulator.M2, accumulator.Variance));

        accumulator.Add(-3.5);

        Assert.Equal((1L, (double?)-3.5, (double?)0.0, (double?)null), (accumulator.N, accumulator.Mean, accumulator.M2, accumulator.Variance));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Welford_refuses_non_finite_values(double value)
    {
        var accumulator = new MeanVarianceAccumulator();
        accumulator.Add(1);

        Assert.Throws<ArgumentOutOfRangeException>(() => accumulator.Add(value));
        Assert.Equal(1, accumulator.N);
    }

    [Theory]
    [InlineData(-0.001, -1)]
    [InlineData(double.NegativeInfinity, -1)]
    [InlineData(0, 0)]
    [InlineData(9.999, 0)]
    [InlineData(10, 1)]
    [InlineData(24.9, 1)]
    [InlineData(25, 2)]
    [InlineData(99.99, 2)]
    [InlineData(100, 3)]
    [InlineData(double.PositiveInfinity, 3)]
    public void Histogram_bins_are_closed_below_and_open_above(double value, int expected)
    {
        var histogram = new HistogramAccumulator([0, 10, 25, 100]);

        histogram.Add(value);

        var statistic = histogram.ToStatistic();
        Assert.Equal(expected == -1 ? 1 : 0, statistic.Underflow);
        Assert.Equal(expected == 3 ? 1 : 0, statistic.Overflow);
        Assert.Equal(Enumerable.Range(0, 3).Select(i => (long?)(i == expected ? 1L : 0L)), statistic.Counts!);
    }

    [Fact]
    public void Histogram_agrees_with_a_linear_scan()
    {
        double[] edges = [-5, -1, 0, 0.5, 3, 3.25, 40];
        var histogram = new HistogramAccumulator(edges);
        var expected = new long[edges.Length + 1]; // [underflow, bins..., overflow]
        var random = new Random(7);
        for (var k = 0; k < 5_000; k++)
        {
            var x = random.Next(4) == 0 ? edges[random.Next(edges.Length)] : random.NextDouble() * 60 - 10;
            histogram.Add(x);
            var slot = 0;
            while (slot < edges.Length && x >= edges[slot]) slot++;
            expected[slot]++;
        }

        var statistic = histogram.ToStatistic();
        Assert.Equal(expected[0], statistic.Underflow);
        Assert.Equal(expected[1..^1].Select(c => (long?)c), statistic.Counts!);
        Assert.Equal(expected[^1], statistic.Overflow);
    }

    [Fact]
    public void Histogram_statistic_is_a_snapshot()
    {
        var histogram = new HistogramAccumulator([0, 1]);
        histogram.Add(0.5);
        var before = histogram.ToStatistic();

        histogram.Add(0.5);

        Assert.Equal([1L], before.Counts!);
        Assert.Equal([2L], histogram.ToStatistic().Counts!);
        Assert.Throws<ArgumentOutOfRangeException>(() => histogram.Add(double.NaN));
    }

    public static TheoryData<double[]> BadEdges => new() { Array.Empty<double>(), new[] { 1.0 }, new[] { 0.0, 0.0 }, new[] { 0.0, 2, 1 }, new[] { 0.0, double.NaN }, new[] { 0.0, double.PositiveInfinity } };

    [Theory]
    [MemberData(nameof(BadEdges))]
    public void Histogram_refuses_edges_that_are_not_finite_and_strictly_ascending(double[] edges)
    {
        Assert.Throws<ArgumentException>(() => new HistogramAccumulator(edges));
    }

    [Fact]
    public void Category_counter_reports_every_declared_category_in_order()
    {
        var counter = new CategoryCounter(["female", "male", "other", "unknown"]);
        foreach (var g in new[] { "male", "female", "male", "unknown" }) counter.Add(g);

        var statistic = counter.ToStatistic();

        Assert.Equal(StatisticKinds.Count, statistic.Kind);
        Assert.Null(statistic.Value);
        Assert.Equal(["female", "male", "other", "unknown"], statistic.Categories!.Keys);
        Assert.Equal([1.0, 2, 0, 1], statistic.Categories.Values);
        Assert.Equal(2, counter["male"]);
    }

    [Fact]
    public void Category_counter_refuses_undeclared_and_badly_declared_categories()
    {
        var counter = new CategoryCounter(["a", "b"]);

        var error = Assert.Throws<ArgumentException>(() => counter.Add("c"));
        Assert.Contains("'c'", error.Message);
        Assert.Throws<ArgumentException>(() => counter["c"]);
        Assert.Throws<ArgumentException>(() => new CategoryCounter([]));
        Assert.Throws<ArgumentException>(() => new CategoryCounter(["a", "a"]));
        Assert.Throws<ArgumentException>(() => new CategoryCounter(["a", ""]));
    }

    [Fact]
    public void Count_and_sum_statistics_check_their_value()
    {
        Assert.Equal((StatisticKinds.Count, (double?)7), (Statistic.Count(7).Kind, Statistic.Count(7).Value));
        Assert.Equal((StatisticKinds.Sum, (double?)-2.5), (Statistic.Sum(-2.5).Kind, Statistic.Sum(-2.5).Value));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistic.Count(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Statistic.Sum(double.NaN));
    }
}
