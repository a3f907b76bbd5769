using HealthTrain.Cli;
using HealthTrain.Cli.Commands;

namespace HealthTrain.Trains.Tests.Cli;

public sealed class UsageTests
{
    [Fact]
    public async Task An_unknown_model_command_is_a_usage_error_that_lists_the_commands()
    {
        var error = await Assert.ThrowsAsync<UsageException>(() => ModelCommands.RunAsync(new CliArgs(["lsit"]), TextWriter.Null));
        Assert.Equal("unknown command 'model lsit'; try: model list|show|pull|prov", error.Message);
    }
}
