using HealthTrain.Station.Disclosure;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Tests.Disclosure;

public sealed class CellSuppressionTests
{
    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"name":"t","version":"1","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[
           {"name":"patients","kind":"count"},
           {"name":"by_sex","kind":"count","categories":["f","m","o","u"]},
           {"name":"age","kind":"histogram","bins":[0,10,20,30]},
           {"name":"bmi","kind":"variance"},
           {"name":"weight","kind":"mean"}]}}
        """);

    private static StatisticsResult Result(double patients = 100, double[]? bySex = null, long?[]? age = null, long underflow = 0, long? overflow = 0,
        long bmiN = 50, long weightN = 50)
    {
        var sexes = bySex ?? [40, 40, 10, 10];
        return new StatisticsResult
        {
            Statistics = new()
            {
                ["patients"] = new() { Kind = "count", Value = patients },
                ["by_sex"] = new() { Kind = "count", Categories = new() { ["f"] = sexes[0], ["m"] = sexes[1], ["o"] = sexes[2], ["u"] = sexes[3] } },
                ["age"] = new() { Kind = "histogram", Counts = age ?? [30, 30, 40], Underflow = underflow, Overflow = overflow },
                ["bmi"] = bmiN > 0 ? new() { Kind = "variance", N = bmiN, Mean = 25, M2 = bmiN == 1 ? 0 : 3.5 * bmiN } : new() { Kind = "variance", N = 0 },
                ["weight"] = weightN > 0 ? new() { Kind = "mean", N = weightN, Mean = 70 } : new() { Kind = "mean", N = 0 },
            },
        };
    }

    private static (StatisticsResult Result, IReadOnlyList<SuppressedCell> Cells) Apply(StatisticsResult result, int k = 5)
    {
        Assert.Empty(StatisticsResultValidator.Validate(Manifest, result));
        var applied = CellSuppression.Apply(Manifest, result, k);
        // Whatever was withheld, what leaves the station is a valid result whose record matches its marks.
        Assert.Empty(StatisticsResultValidator.Validate(Manifest, applied.Result));
        Assert.Equal(new StatisticsDisclosure(k, applied.Cells.Count), applied.Result.Disclosure);
        return applied;
    }

    private static IEnumerable<string> Named(IReadOnlyList<SuppressedCell> cells) => cells.Select(c => $"{c.Statistic}.{c.Cell}:{c.Reason}");

    [Fact]
    public void Large_cells_and_zero_cells_leave_unchanged()
    {
        var (result, cells) = Apply(Result(bySex: [60, 40, 0, 0], age: [0, 50, 50]));

        Assert.Empty(cells);
        Assert.All(result.Statistics.Values, v => Assert.Null(v.Suppressed));
        Assert.Equal(0, result.Statistics["by_sex"].Categories!["o"]);
        Assert.Equal(new long?[] { 0, 50, 50 }, result.Statistics["age"].Counts!);
    }

    [Theory]
    [InlineData(4, true)]  // k − 1
    [InlineData(5, false)] // k
    [InlineData(1, true)]
    [InlineData(0, false)]
    public void A_count_under_k_is_withheld_at_k_it_is_not(double patients, bool withheld)
    {
        var (result, cells) = Apply(Result(patients: patients));

        Assert.Equal(withheld, cells.Any(c => c.Statistic == "patients"));
        Assert.Equal(withheld ? null : (double?)patients, result.Statistics["patients"].Value);
        Assert.Equal(withheld ? new[] { "value" } : null, result.Statistics["patients"].Suppressed);
    }

    [Fact]
    public void One_small_category_takes_the_next_smallest_non_zero_category_with_it()
    {
        // o = 3 is primary; u = 0 is not disclosive and stays; m = 20 is the smallest other non-zero category.
        var (result, cells) = Apply(Result(bySex: [77, 20, 3, 0]));

        Assert.Equal(["by_sex.categories.m:secondary", "by_sex.categories.o:primary"], Named(cells));
        var categories = result.Statistics["by_sex"].Categories!;
        Assert.Equal(new double?[] { 77, null, null, 0 }, new[] { categories["f"], categories["m"], categories["o"], categories["u"] });
        Assert.Equal(["categories.m", "categories.o"], result.Statistics["by_sex"].Suppressed!);
    }

    [Fact]
    public void On_a_tie_the_first_declared_category_is_withheld()
    {
        var (_, cells) = Apply(Result(bySex: [30, 30, 4, 30]));

        Assert.Equal(["by_sex.categories.f:secondary", "by_sex.categories.o:primary"], Named(cells));
    }

    [Fact]
    public void Two_small_categories_protect_each_other_without_a_third()
    {
        var (_, cells) = Apply(Result(bySex: [90, 2, 1, 7]));

        Assert.Equal(["by_sex.categories.m:primary", "by_sex.categories.o:primary"], Named(cells));
    }

    [Fact]
    public void A_small_category_whose_group_has_no_other_non_zero_cell_is_withheld_alone()
    {
        // The group's total is then the small cell itself, and the patient count (3) is withheld as its own small cell.
        var (_, cells) = Apply(Result(patients: 3, bySex: [3, 0, 0, 0], age: [0, 3, 0], bmiN: 0, weightN: 0));

        Assert.Equal(["patients.value:primary", "by_sex.categories.f:primary", "age.counts[1]:primary"], Named(cells));
    }

    [Fact]
    public void Histogram_bins_underflow_and_overflow_are_one_group()
    {
        // Bin 0 (2) is primary; the smallest other non-zero cell is the overflow (6), not the empty underflow.
        var (result, cells) = Apply(Result(age: [2, 30, 40], underflow: 0, overflow: 6));

        Assert.Equal(["age.counts[0]:primary", "age.overflow:secondary"], Named(cells));
        var age = result.Statistics["age"];
        Assert.Equal(new long?[] { null, 30, 40 }, age.Counts!);
        Assert.Equal((0L, (long?)null), (age.Underflow!.Value, age.Overflow));
        Assert.Equal(["counts[0]", "overflow"], age.Suppressed!);
    }

    [Fact]
    public void A_small_underflow_is_withheld_with_the_smallest_bin()
    {
        var (_, cells) = Apply(Result(age: [30, 9, 40], underflow: 1, overflow: null));

        Assert.Equal(["age.underflow:primary", "age.counts[1]:secondary"], Named(cells));
    }

    [Theory]
    [InlineData(4, true)]
    [InlineData(5, false)]
    [InlineData(1, true)]
    [InlineData(0, false)]
    public void A_mean_or_variance_over_fewer_than_k_records_is_withheld_whole(long n, bool withheld)
    {
        var (result, cells) = Apply(Result(bmiN: n, weightN: n));

        Assert.Equal(withheld ? new[] { "bmi.n:primary", "weight.n:primary" } : [], Named(cells));
        foreach (var name in new[] { "bmi", "weight" })
        {
            var v = result.Statistics[name];
            if (withheld)
            {
                Assert.Equal(((long?)null, (double?)null, (double?)null), (v.N, v.Mean, v.M2));
                Assert.Equal(["n"], v.Suppressed!);
            }
            else Assert.Equal(n, v.N);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void K_of_one_or_less_is_off_and_says_so(int k)
    {
        var (result, cells) = Apply(Result(patients: 1, bySex: [1, 0, 0, 0], age: [1, 0, 0], bmiN: 1, weightN: 1), k);

        Assert.Empty(cells);
        Assert.Equal(1, result.Statistics["patients"].Value);
        Assert.Equal(new StatisticsDisclosure(k, 0), result.Disclosure);
    }

    [Fact]
    public void A_larger_k_withholds_more()
    {
        var (_, cells) = Apply(Result(patients: 9, bySex: [60, 30, 9, 1]), k: 10);

        Assert.Equal(["patients.value:primary", "by_sex.categories.o:primary", "by_sex.categories.u:primary"], Named(cells));
    }

    [Fact]
    public void Sums_cannot_be_checked_so_a_suppressing_station_refuses_them()
    {
        var withSum = ManifestValidator.ParseOrThrow("""
            {"name":"t","version":"1","authors":["a"],"kind":"statistics",
             "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
             "outputs":{"statistics":[{"name":"dose","kind":"sum"},{"name":"cost","kind":"sum","categories":["a"]}]}}
            """);
        var result = new StatisticsResult { Statistics = new() { ["dose"] = new() { Kind = "sum", Value = 2.5 }, ["cost"] = new() { Kind = "sum", Categories = new() { ["a"] = 1 } } } };

        Assert.Contains("a sum carries no record count to check: dose, cost", CellSuppression.WhyRefused(withSum, 5));
        Assert.Null(CellSuppression.WhyRefused(withSum, 1));
        Assert.Null(CellSuppression.WhyRefused(Manifest, 5));
        Assert.Throws<InvalidOperationException>(() => CellSuppression.Apply(withSum, result, 5));
        Assert.Equal(2.5, CellSuppression.Apply(withSum, result, 1).Result.Statistics["dose"].Value);
    }

    [Fact]
    public void A_result_is_suppressed_once()
    {
        var (once, _) = Apply(Result(patients: 2));

        Assert.Throws<ArgumentException>(() => CellSuppression.Apply(Manifest, once, 5));
    }
}
