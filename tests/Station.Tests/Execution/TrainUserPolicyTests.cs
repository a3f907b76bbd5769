using HealthTrain.Station.Execution;

namespace HealthTrain.Station.Tests.Execution;

public sealed class TrainUserPolicyTests
{
    [Theory]
    [InlineData("65532:65532")]
    [InlineData("1000")]
    [InlineData("1000:1000")]
    public void A_numeric_non_root_user_runs_as_itself_under_either_setting(string imageUser)
    {
        Assert.Equal((imageUser, null), TrainUserPolicy.Decide(imageUser, TrainUserPolicy.Refuse));
        Assert.Equal((imageUser, null), TrainUserPolicy.Decide(imageUser, TrainUserPolicy.Remap));
    }

    [Theory]
    [InlineData("")]
    [InlineData("root")]
    [InlineData("0")]
    [InlineData("00")]
    [InlineData("0:0")]
    [InlineData("1000:0")]
    [InlineData("0:1000")]
    [InlineData("train")]
    [InlineData("1000:1000:1")]
    [InlineData("-1")]
    [InlineData("99999999999")]
    [InlineData("1000:")]
    public void Any_other_user_is_refused_by_default_and_remapped_on_request(string imageUser)
    {
        var (user, refusal) = TrainUserPolicy.Decide(imageUser, TrainUserPolicy.Refuse);
        Assert.Null(user);
        Assert.Contains("Station:RootImages setting is 'refuse'", refusal);
        Assert.Equal((TrainUserPolicy.DefaultUser, null), TrainUserPolicy.Decide(imageUser, TrainUserPolicy.Remap));
    }

    [Fact]
    public void The_refusal_names_the_user()
    {
        Assert.StartsWith("the image runs as user 'root', and", TrainUserPolicy.Decide("root", "refuse").Refusal);
        Assert.StartsWith("the image names no user, so it would run as root, and", TrainUserPolicy.Decide("", "refuse").Refusal);
    }

    [Fact]
    public void Refuse_is_the_stations_default() => Assert.Equal(TrainUserPolicy.Refuse, new StationOptions().RootImages);

    [Theory]
    [InlineData("Refuse")]
    [InlineData("allow")]
    [InlineData("")]
    public void Only_the_two_settings_are_accepted(string setting)
    {
        Assert.Equal($"Station:RootImages must be 'refuse' or 'remap', not '{setting}'", TrainUserPolicy.WhyInvalid(setting));
        Assert.Throws<ArgumentException>(() => TrainUserPolicy.Decide("65532", setting));
    }
}
