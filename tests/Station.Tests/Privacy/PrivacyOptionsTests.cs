using HealthTrain.Station.Privacy;
using Microsoft.Extensions.Configuration;

namespace HealthTrain.Station.Tests.Privacy;

public class PrivacyOptionsTests
{
    [Fact]
    public void Binds_from_the_Station_Privacy_section_and_is_off_by_default()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Station:Name"] = "hospital-a",
            ["Station:Privacy:ClipNorm"] = "1.5",
            ["Station:Privacy:NoiseMultiplier"] = "0.8",
            ["Station:Privacy:Delta"] = "1e-6",
            ["Station:Privacy:EpsilonBudget"] = "8",
        }).Build();
        var options = configuration.GetSection("Station").Get<StationOptions>()!;
        Assert.Equal(new PrivacyOptions { ClipNorm = 1.5, NoiseMultiplier = 0.8, Delta = 1e-6, EpsilonBudget = 8 }, options.Privacy);
        Assert.True(options.Privacy.Enabled);
        Assert.Empty(options.Privacy.Validate());

        Assert.False(new StationOptions().Privacy.Enabled);
        Assert.Empty(new StationOptions().Privacy.Validate());
        Assert.Equal(["Station:Privacy:NoiseMultiplier must be ≥ 0 (0 disables privacy), got -1"], new PrivacyOptions { NoiseMultiplier = -1 }.Validate());
    }
}
