using HealthTrain.Cli.Hub;
using HealthTrain.Examples.CohortStats;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>The foundation's promise: pooling what three hospitals return equals computing over their pooled records.</summary>
[Collection(FederationCollection.Name)]
public sealed class CohortStatsRunTests(FederationFixture f)
{
    private const double Relative = 1e-9;

    [Fact]
    public async Task Pooled_statistics_equal_the_statistics_over_the_union_of_the_stations()
    {
        var train = await new TrainPublisher(f.Docker, f.Alice).PushAsync(f.CohortStats.Reference);
        var run = await f.RunToEndAsync(train, f.Hospitals);
        Assert.True(run.State == RunStates.Completed, RunDetails(run));
        Assert.All(run.Jobs, j => Assert.Equal(JobStates.Succeeded, j.State));
        Assert.All(run.Jobs, j => Assert.StartsWith("sha256:", j.ResultDigest));

        var results = await f.Alice.GetResultsAsync(run.Id);
        var pooled = Assert.Single(results.Rounds).Pooled!;
        Assert.Equal(f.Hospitals, pooled.Stations);

        // The same views over the union of the three stations' records, as one pooled store would give them.
        var views = UnionData.EvaluateViews(f.Slices, f.CohortStats.Manifest, Path.Combine(f.Root, "union"));
        var direct = CohortStatistics.Compute(views["patients"], views["labs"], views["type2_diabetes"], new DateOnly(2026, 1, 1));

        // Each station gave the train exactly the three views, and said how many rows of each.
        foreach (var job in run.Jobs)
            Assert.Equal(["patients", "labs", "type2_diabetes"], job.Inputs!.Select(i => i.Name));
        Assert.Equal(views["patients"].Count, run.Jobs.Sum(j => j.Inputs!.Single(i => i.Name == "patients").Rows));
        Assert.Equal(["patient_key", "gender", "birth_date", "deceased_date_time", "deceased"], run.Jobs[0].Inputs![0].Columns);

        Assert.Equal(direct.Statistics.Keys.Order(), pooled.Statistics.Select(s => s.Name).Order());
        foreach (var p in pooled.Statistics)
        {
            var d = direct.Statistics[p.Name];
            Assert.Equal(3, p.Stations);
            switch (p.Kind)
            {
                case StatisticKinds.Count when d.Categories is not null:
                    Assert.Equal(d.Categories.OrderBy(c => c.Key), p.Categories!.OrderBy(c => c.Key));
                    break;
                case StatisticKinds.Count:
                    Assert.Equal(d.Value, p.Value);
                    break;
                case StatisticKinds.Histogram:
                    Assert.Equal(d.Counts, p.Counts);
                    Assert.Equal(d.Underflow ?? 0, p.Underflow ?? 0);
                    Assert.Equal(d.Overflow ?? 0, p.Overflow ?? 0);
                    break;
                case StatisticKinds.Variance:
                    Assert.Equal(d.N, p.N);
                    AssertClose(d.Mean!.Value, p.Mean!.Value, p.Name + ".mean");
                    AssertClose(d.M2!.Value / (d.N!.Value - 1), p.Variance!.Value, p.Name + ".variance");
                    break;
                default:
                    Assert.Fail($"cohort-stats has no {p.Kind} statistic {p.Name}");
                    break;
            }
        }
        // The data set's own figures (README of ../shared/data), so the comparison is not of two empty tables.
        Assert.Equal(526, pooled.Statistics.Single(s => s.Name == "patients").Value);
        Assert.Equal(31, pooled.Statistics.Single(s => s.Name == "type2_diabetes_patients").Value);
        Assert.Equal(4116, pooled.Statistics.Single(s => s.Name == "bmi").N);
        Assert.Equal(1452, pooled.Statistics.Single(s => s.Name == "hba1c").N);
    }

    private static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= Relative * Math.Abs(expected), $"{what}: pooled {actual:R} vs direct {expected:R}");

    internal static string RunDetails(RunInfo run) => HealthTrain.Cli.Commands.RunCommands.Describe(run);
}
