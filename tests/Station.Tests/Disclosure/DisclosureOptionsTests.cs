using HealthTrain.Station.Disclosure;
using Microsoft.Extensions.Configuration;

namespace HealthTrain.Station.Tests.Disclosure;

public sealed class DisclosureOptionsTests
{
    [Fact]
    public void K_is_five_unless_the_station_says_otherwise()
    {
        Assert.Equal(5, new StationOptions().Disclosure.MinCellCount);
        Assert.True(new StationOptions().Disclosure.Enabled);
        Assert.Empty(new StationOptions().Disclosure.Validate());

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Station:Name"] = "hospital-a",
            ["Station:Disclosure:MinCellCount"] = "1",
        }).Build();
        var options = configuration.GetSection("Station").Get<StationOptions>()!;
        Assert.Equal(1, options.Disclosure.MinCellCount);
        Assert.False(options.Disclosure.Enabled);
        Assert.Empty(options.Disclosure.Validate());
    }

    [Fact]
    public void A_negative_k_is_refused_with_the_setting_named()
    {
        Assert.Equal(["Station:Disclosure:MinCellCount must be 0 or more (1 or less turns small-cell suppression off), got -3"],
            new DisclosureOptions { MinCellCount = -3 }.Validate());
    }
}
