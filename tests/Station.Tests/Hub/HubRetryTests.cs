using System.Net;
using HealthTrain.Station.Hub;
using HealthTrain.Trains.Protocol.Signing;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.Station.Tests.Hub;

public class HubRetryTests
{
    [Fact]
    public void Only_an_unreachable_hub_or_a_server_error_is_worth_another_try()
    {
        Assert.True(HubRetry.IsTransient(new HttpRequestException("connection refused")));
        Assert.True(HubRetry.IsTransient(new SignatureRegistryException("GET …: connection refused")));
        Assert.True(HubRetry.IsTransient(new SignatureRegistryException("bad gateway", HttpStatusCode.BadGateway)));
        Assert.False(HubRetry.IsTransient(new SignatureRegistryException("forbidden", HttpStatusCode.Forbidden)));
        Assert.False(HubRetry.IsTransient(new HttpRequestException("not found", null, HttpStatusCode.NotFound)));
        Assert.False(HubRetry.IsTransient(new InvalidOperationException("a bug")));
    }

    [Fact]
    public async Task A_call_that_fails_transiently_is_retried_and_a_final_answer_is_not()
    {
        var calls = 0;
        var value = await HubRetry.RunAsync(() => ++calls < 2 ? throw new HttpRequestException("down") : Task.FromResult(42),
            NullLogger.Instance, "test", CancellationToken.None);
        Assert.Equal((42, 2), (value, calls));

        calls = 0;
        await Assert.ThrowsAsync<SignatureRegistryException>(() => HubRetry.RunAsync<int>(() =>
        {
            calls++;
            throw new SignatureRegistryException("forbidden", HttpStatusCode.Forbidden);
        }, NullLogger.Instance, "test", CancellationToken.None));
        Assert.Equal(1, calls);
    }
}
