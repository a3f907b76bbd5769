using System.Text.Json;
using HealthTrain.Hub.Merging;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Tests.Merging;

public class MergeStrategyTests
{
    [Fact]
    public void Defaults_apply_to_unset_parameters()
    {
        var adam = MergeStrategy.FedAdam();
        Assert.Empty(adam.Validate());
        Assert.Equal((0.1, 0.9, 0.99, 1e-3), (adam.EffectiveServerLearningRate, adam.EffectiveBeta1, adam.EffectiveBeta2, adam.EffectiveTau));
        Assert.Equal(0.1, MergeStrategy.TrimmedMean().EffectiveTrimFraction);
        Assert.Empty(MergeStrategy.FedAvg().Validate());
        Assert.Empty(MergeStrategy.Median().Validate());
        Assert.Empty(MergeStrategy.FedProx(0).Validate());
    }

    [Fact]
    public void Reports_every_problem_with_a_choice()
    {
        Assert.Equal(["unknown merge strategy 'FedAvg'; expected one of fedavg, fedprox, fedadam, median, trimmed-mean, geometric-median"], new MergeStrategy { Name = "FedAvg" }.Validate());
        Assert.Equal(["fedprox needs mu, the proximal coefficient (≥ 0) the train applies"], new MergeStrategy { Name = "fedprox" }.Validate());
        Assert.Equal(
            ["mu applies only to fedprox, not to fedavg", "trimFraction applies only to trimmed-mean, not to fedavg", "mu must be ≥ 0, got -1"],
            new MergeStrategy { Mu = -1, TrimFraction = 0.1 }.Validate());
        Assert.Equal(
            ["serverLearningRate must be > 0, got 0", "beta1 must be in [0, 1), got 1", "beta2 must be in [0, 1), got NaN", "tau must be > 0, got -0.001"],
            MergeStrategy.FedAdam(0, 1, double.NaN, -1e-3).Validate());
        Assert.Equal(["trimFraction must be in [0, 0.5), got 0.5"], MergeStrategy.TrimmedMean(0.5).Validate());
        Assert.Throws<ArgumentException>(() => MergeStrategy.TrimmedMean(0.5).EnsureValid());
    }

    [Fact]
    public void Round_trips_through_the_protocol_json_with_only_the_set_parameters()
    {
        var json = JsonSerializer.Serialize(MergeStrategy.FedAdam(serverLearningRate: 0.01), ProtocolJson.Options);
        Assert.Equal("""{"name":"fedadam","serverLearningRate":0.01}""", json);
        Assert.Equal(MergeStrategy.FedAdam(serverLearningRate: 0.01), JsonSerializer.Deserialize<MergeStrategy>(json, ProtocolJson.Options));
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<MergeStrategy>("""{"name":"fedprox","proximalMu":0.1}""", ProtocolJson.Options));
    }
}
