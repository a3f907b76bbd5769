using System.Text;
using HealthTrain.Station.Jobs;

namespace HealthTrain.Station.Tests.Jobs;

public sealed class TrainingOutputTests
{
    private static (long, IReadOnlyDictionary<string, double>, string?) Parse(string json, bool evaluationOnly = false) =>
        TrainingOutput.ParseMetrics(Encoding.UTF8.GetBytes(json), evaluationOnly);

    [Fact]
    public void Reads_samples_and_metrics()
    {
        var (samples, metrics, problem) = Parse("""{"samples": 12, "metrics": {"global_auroc": 0.75, "train_loss": 0.5}}""");
        Assert.Null(problem);
        Assert.Equal(12, samples);
        Assert.Equal(0.75, metrics["global_auroc"]);
    }

    [Theory]
    [InlineData("""{"samples": 0, "metrics": {}}""", "samples must be a positive integer, not 0")]
    [InlineData("""{"samples": -3}""", "samples must be a positive integer, not -3")]
    [InlineData("""{"metrics": {}}""", "samples is missing")]
    [InlineData("""{"samples": 1, "metrics": {"Bad": 1}}""", "metric name 'Bad' must be lower-case letters, digits and '_', starting with a letter")]
    [InlineData("""{"samples": 1, "extra": 1}""", "unexpected member 'extra': only samples and metrics")]
    public void Refuses_what_is_not_an_update_s_metrics(string json, string expected) => Assert.Equal(expected, Parse(json).Item3);

    [Fact]
    public void An_evaluation_only_execution_may_train_on_nothing_but_not_on_a_negative_count()
    {
        var (samples, metrics, problem) = Parse("""{"samples": 0, "metrics": {"global_accuracy": 0.9}}""", evaluationOnly: true);
        Assert.Null(problem);
        Assert.Equal(0, samples);
        Assert.Equal(0.9, metrics["global_accuracy"]);
        Assert.Equal("samples must be a positive integer, not -1", Parse("""{"samples": -1}""", evaluationOnly: true).Item3);
    }
}
