using System.Net;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Station.Hub;

/// <summary>
/// Retries a call to the hub (or its registry gateway) while the hub is unreachable or answers 5xx — a restart, a
/// deploy — with backoff for about a minute and a half; any other answer is final. A job is not failed because the hub
/// blinked.
/// </summary>
public static class HubRetry
{
    private const int MaxAttempts = 8;

    public static async Task<T> RunAsync<T>(Func<Task<T>> call, ILogger log, string what, CancellationToken ct)
    {
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < MaxAttempts && !ct.IsCancellationRequested && IsTransient(e))
            {
                log.LogWarning("could not {What} the job (attempt {Attempt}): {Error}; retrying in {Delay} s", what, attempt, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, ct);
                delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 30));
            }
        }
    }

    /// <summary>No answer at all, or a server error: worth another try.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        TaskCanceledException => true,
        HttpRequestException h => h.StatusCode is null or >= HttpStatusCode.InternalServerError,
        SignatureRegistryException s => s.StatusCode is null or >= HttpStatusCode.InternalServerError,
        IOException { InnerException: HttpRequestException h } => h.StatusCode is null or >= HttpStatusCode.InternalServerError,
        _ => false,
    };
}
