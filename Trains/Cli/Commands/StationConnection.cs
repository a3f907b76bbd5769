using System.Net.Http.Headers;
using System.Text.Json;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Commands;

/// <summary>How the CLI reaches a station's own API: <c>--station URL --token T</c>, or HEALTHTRAIN_STATION / HEALTHTRAIN_STATION_TOKEN.</summary>
public static class StationConnection
{
    /// <summary>An HTTP client for the station named on the command line, with its operator token.</summary>
    public static HttpClient Connect(CliArgs args, string urlOption = "station", string tokenOption = "token")
    {
        var url = args.Option(urlOption) ?? Environment.GetEnvironmentVariable("HEALTHTRAIN_STATION")
            ?? throw new UsageException($"--{urlOption} URL is required (the station's own address, e.g. http://127.0.0.1:7100), or set HEALTHTRAIN_STATION");
        var token = args.Option(tokenOption) ?? Environment.GetEnvironmentVariable("HEALTHTRAIN_STATION_TOKEN")
            ?? throw new UsageException($"--{tokenOption} is required (the station operator's token, in the station's data folder as operator.token), or set HEALTHTRAIN_STATION_TOKEN");
        return Connect(new Uri(url), token);
    }

    public static HttpClient Connect(Uri url, string token)
    {
        var http = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    /// <summary>The answer's body as <typeparamref name="T"/>; a refusal becomes an error with the station's message.</summary>
    public static async Task<T> ReadAsync<T>(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
            {
                string message;
                try { message = JsonSerializer.Deserialize<ApiError>(body, ProtocolJson.Api)?.Error ?? body; }
                catch (JsonException) { message = body; }
                throw new InvalidOperationException($"the station answered {(int)response.StatusCode}: {message}");
            }
            return JsonSerializer.Deserialize<T>(body, ProtocolJson.Api) ?? throw new InvalidOperationException("the station sent an empty answer");
        }
    }

    /// <summary>Every receipt the station keeps, page by page.</summary>
    public static async Task<List<StationReceipt>> ReceiptsAsync(HttpClient station, CancellationToken ct = default)
    {
        var all = new List<StationReceipt>();
        while (true)
        {
            var after = all.Count == 0 ? -1 : all[^1].Receipt.Record.Index;
            var page = await ReadAsync<List<StationReceipt>>(await station.GetAsync($"/api/receipts?after={after}&limit=1000", ct));
            all.AddRange(page);
            if (page.Count < 1000) return all;
        }
    }
}
