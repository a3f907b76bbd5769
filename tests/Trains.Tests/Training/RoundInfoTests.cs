using System.Text;
using HealthTrain.Trains.Sdk;
using HealthTrain.Trains.Sdk.Training;

namespace HealthTrain.Trains.Tests.Training;

public sealed class RoundInfoTests
{
    private static RoundInfo Parse(string json) => RoundInfo.Parse(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void The_contracts_example_parses()
    {
        var round = Parse("""{"run": 12, "round": 1, "rounds": 5, "strategy": "fedavg", "proximalMu": null, "seed": 42}""");
        Assert.Equal(new RoundInfo(12, 1, 5, "fedavg", null, 42), round);
        Assert.True(round.IsFirst);
        Assert.Equal(0, round.ProximalWeight);
    }

    [Fact]
    public void Fedprox_carries_its_mu_into_the_proximal_weight()
    {
        var round = Parse("""{"run": 3, "round": 2, "rounds": 2, "strategy": "fedprox", "proximalMu": 0.01, "seed": 7}""");
        Assert.Equal(0.01, round.ProximalWeight);
        Assert.False(round.IsFirst);
    }

    [Theory]
    [InlineData("""{"run": 1, "round": 6, "rounds": 5, "strategy": "fedavg", "seed": 1}""", "'round' must be between 1 and rounds")]
    [InlineData("""{"run": 1, "round": 1, "rounds": 5, "strategy": "fedsgd", "seed": 1}""", "strategy 'fedsgd' is not one of")]
    [InlineData("""{"run": 1, "round": 1, "rounds": 5, "strategy": "fedprox", "seed": 1}""", "fedprox needs 'proximalMu'")]
    [InlineData("""{"run": 1, "round": 1, "rounds": 5, "strategy": "fedavg"}""", "'seed' is missing")]
    [InlineData("""{"run": "1", "round": 1, "rounds": 5, "strategy": "fedavg", "seed": 1}""", "'run' must be an integer")]
    [InlineData("""[1]""", "must hold a JSON object")]
    public void Malformed_round_files_are_refused_with_the_member_named(string json, string message)
    {
        var e = Assert.Throws<TrainInputException>(() => Parse(json));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_train_accepts_every_strategy_the_hub_merges_with() =>
        Assert.Equal(HealthTrain.Hub.Merging.MergeStrategy.Names, RoundInfo.Strategies);
}
