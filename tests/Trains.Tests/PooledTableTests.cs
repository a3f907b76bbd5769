using HealthTrain.Cli.Runs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests;

public sealed class PooledTableTests
{
    private static readonly PooledStatistics Cohort = new()
    {
        Stations = ["boston", "worcester"],
        Statistics =
        [
            new() { Name = "patients", Kind = "count", Stations = 2, Value = 526 },
            new()
            {
                Name = "patients_by_gender", Kind = "count", Stations = 2,
                Categories = new() { ["female"] = 249, ["male"] = 277, ["other"] = 0, ["unknown"] = 0 },
            },
            new()
            {
                Name = "age_years", Kind = "histogram", Unit = "years", Stations = 2,
                Bins = [0, 10, 20, 30], Counts = [28, 41, 65], Underflow = 0, Overflow = 392,
            },
            new() { Name = "bmi", Kind = "variance", Unit = "kg/m2", Stations = 2, N = 4116, Mean = 25.78754420243122, M2 = 116900.81, Variance = 28.408459961068026 },
            new() { Name = "dose", Kind = "sum", Unit = "mg", Stations = 1, Value = 1234.5 },
            new() { Name = "weight", Kind = "mean", Unit = "kg", Stations = 0, N = 0 },
        ],
    };

    [Fact]
    public void Renders_one_row_per_statistic_with_categories_and_bins_indented()
    {
        var expected = """
            Pooled over 2 stations: boston, worcester
            statistic           kind       unit   stations     n  value
            patients            count                    2        526
            patients_by_gender  count                    2        526
              female                                              249
              male                                                277
              other                                               0
              unknown                                             0
            age_years           histogram  years         2   526
              [0, 10)                                             28
              [10, 20)                                            41
              [20, 30)                                            65
              >= 30                                               392
            bmi                 variance   kg/m2         2  4116  mean 25.7875  variance 28.4085  sd 5.3300
            dose                sum        mg            1        1234.5000
            weight              mean       kg            0     0  -

            """;

        Assert.Equal(expected.ReplaceLineEndings(), PooledTable.Render(Cohort));
    }

    [Theory]
    [InlineData(0.000012345, "mean 1.2345E-5")]
    [InlineData(123456789.98765, "mean 123456789.9877")]
    [InlineData(-3, "mean -3.0000")]
    public void Numbers_keep_four_decimals_or_switch_to_scientific_when_tiny(double mean, string expected)
    {
        var pooled = new PooledStatistics
        {
            Stations = ["only"],
            Statistics = [new() { Name = "x", Kind = "variance", Stations = 1, N = 1, Mean = mean, M2 = 0 }],
        };

        var row = PooledTable.Render(pooled).Split('\n')[2];

        Assert.EndsWith(expected + "  variance -  sd -", row.TrimEnd('\r'));
    }

    [Fact]
    public void Withheld_cells_show_as_lower_bounds_with_their_stations_and_each_station_s_k()
    {
        var pooled = new PooledStatistics
        {
            Stations = ["boston", "tiny"],
            Disclosure = [new("boston", 5, 0), new("tiny", 5, 4)],
            Statistics =
            [
                new() { Name = "patients", Kind = "count", Stations = 2, Value = 176, Suppressed = new() { ["value"] = 1 } },
                new()
                {
                    Name = "by_sex", Kind = "count", Stations = 2,
                    Categories = new() { ["female"] = 91, ["male"] = 85 }, Suppressed = new() { ["categories.male"] = 1 },
                },
                new()
                {
                    Name = "age", Kind = "histogram", Unit = "years", Stations = 2, Bins = [0, 10, 20], Counts = [40, 136], Underflow = 0, Overflow = 2,
                    Suppressed = new() { ["counts[1]"] = 1, ["overflow"] = 2 },
                },
                new() { Name = "bmi", Kind = "variance", Stations = 1, N = 100, Mean = 25, M2 = 99, Variance = 1, Suppressed = new() { ["n"] = 1 } },
                new() { Name = "weight", Kind = "mean", Stations = 0, N = 0, Suppressed = new() { ["n"] = 2 } },
            ],
        };
        var expected = """
            Pooled over 2 stations: boston, tiny
            Small-cell suppression: boston k = 5, none withheld; tiny k = 5, 4 withheld
            statistic   kind       unit   stations       n  value
            patients    count                    2          >= 176 (suppressed at 1 station)
            by_sex      count                    2          >= 176
              female                                        91
              male                                          >= 85 (suppressed at 1 station)
            age         histogram  years         2  >= 178
              [0, 10)                                       40
              [10, 20)                                      >= 136 (suppressed at 1 station)
              >= 20                                         >= 2 (suppressed at 2 stations)
            bmi         variance                 1     100  mean 25.0000  variance 1.0000  sd 1.0000  (over the released part only; n < k suppressed at 1 station)
            weight      mean                     0       0  -  (over the released part only; n < k suppressed at 2 stations)

            """;

        Assert.Equal(expected.ReplaceLineEndings(), PooledTable.Render(pooled));
    }

    [Fact]
    public void A_station_with_suppression_off_is_named_as_such()
    {
        var pooled = new PooledStatistics
        {
            Stations = ["lab"],
            Disclosure = [new("lab", 1, 0)],
            Statistics = [new() { Name = "patients", Kind = "count", Stations = 1, Value = 3 }],
        };

        Assert.Contains("Small-cell suppression: lab off (k = 1)", PooledTable.Render(pooled));
    }
}
