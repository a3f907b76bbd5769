using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Station.Hub;

/// <summary>Thrown when the hub refuses the station's token: nothing will work until the operator fixes it.</summary>
public sealed class HubAuthenticationException(string message) : Exception(message);

/// <summary>The station's only outbound channel: polls the hub for jobs and reports their outcomes.</summary>
public sealed class HubClient
{
    private readonly HttpClient _http;

    public HubClient(HttpClient http, StationOptions options)
    {
        _http = http;
        _http.BaseAddress = new Uri(options.HubUrl);
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
        // A long poll holds the request open at the hub.
        _http.Timeout = TimeSpan.FromSeconds(options.PollSeconds + 60);
    }

    /// <summary>The next job for this station, or null when none arrived within the wait.</summary>
    public async Task<JobAssignment?> NextJobAsync(int waitSeconds, CancellationToken ct)
    {
        using var response = await _http.GetAsync($"/api/station/jobs/next?waitSeconds={waitSeconds}", ct);
        await EnsureOk(response, ct);
        return response.StatusCode == HttpStatusCode.NoContent ? null : await response.Content.ReadFromJsonAsync<JobAssignment>(ProtocolJson.Api, ct);
    }

    /// <summary>Reports that the train starts, with the approval it runs under.</summary>
    public async Task StartedAsync(long jobId, JobStarted report, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync($"/api/station/jobs/{jobId}/started", report, ProtocolJson.Api, ct);
        await EnsureOk(response, ct);
    }

    /// <summary>Downloads the global model the job's round starts from into <paramref name="path"/>; false when the round has none.</summary>
    public async Task<bool> DownloadModelAsync(long jobId, string path, CancellationToken ct)
    {
        using var response = await _http.GetAsync($"/api/station/jobs/{jobId}/model", HttpCompletionOption.ResponseHeadersRead, ct);
        await EnsureOk(response, ct);
        if (response.StatusCode == HttpStatusCode.NoContent) return false;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using var file = File.Create(path);
        await response.Content.CopyToAsync(file, ct);
        return true;
    }

    /// <summary>Uploads a job's update; returns the digest the hub computed, or the hub's refusal (it then fails the job itself).</summary>
    public async Task<(string? Digest, string? Refusal)> UploadUpdateAsync(long jobId, string path, CancellationToken ct)
    {
        await using var file = File.OpenRead(path);
        using var content = new StreamContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await _http.PutAsync($"/api/station/jobs/{jobId}/update", content, ct);
        if (response.StatusCode == HttpStatusCode.UnprocessableEntity) return (null, await response.Content.ReadAsStringAsync(ct));
        await EnsureOk(response, ct);
        using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        return (json.RootElement.GetProperty("digest").GetString(), null);
    }

    /// <summary>Tells the hub the station holds the job until its train is approved here.</summary>
    public async Task AwaitingApprovalAsync(long jobId, JobAwaitingApproval report, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync($"/api/station/jobs/{jobId}/awaiting-approval", report, ProtocolJson.Api, ct);
        await EnsureOk(response, ct);
    }

    /// <summary>Tells the hub the station holds the job's checked result until its operator releases it.</summary>
    public async Task AwaitingReleaseAsync(long jobId, JobAwaitingRelease report, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync($"/api/station/jobs/{jobId}/awaiting-release", report, ProtocolJson.Api, ct);
        await EnsureOk(response, ct);
    }

    /// <summary>Uploads a result; returns the hub's refusal message when it rejected it (the hub then fails the job itself).</summary>
    public async Task<string?> ResultAsync(long jobId, JobResultUpload upload, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync($"/api/station/jobs/{jobId}/result", upload, ProtocolJson.Api, ct);
        if (response.StatusCode == HttpStatusCode.UnprocessableEntity) return await response.Content.ReadAsStringAsync(ct);
        await EnsureOk(response, ct);
        return null;
    }

    public async Task FailureAsync(long jobId, JobFailureReport report, CancellationToken ct)
    {
        using var response = await _http.PostAsJsonAsync($"/api/station/jobs/{jobId}/failure", report, ProtocolJson.Api, ct);
        await EnsureOk(response, ct);
    }

    /// <summary>The hub's ledger key, to pin on first use when the station's configuration names none.</summary>
    public async Task<LedgerKey> LedgerKeyAsync(CancellationToken ct)
    {
        using var response = await _http.GetAsync("/api/ledger/key", ct);
        await EnsureOk(response, ct);
        return await response.Content.ReadFromJsonAsync<LedgerKey>(ProtocolJson.Api, ct) ?? throw new InvalidOperationException("the hub sent no ledger key");
    }

    /// <summary>Receipts of this station's own ledger entries after index <paramref name="after"/>, oldest first.</summary>
    public async Task<IReadOnlyList<LedgerReceipt>> ReceiptsAsync(long after, int count, CancellationToken ct)
    {
        using var response = await _http.GetAsync($"/api/station/receipts?after={after}&count={count}", ct);
        await EnsureOk(response, ct);
        return await response.Content.ReadFromJsonAsync<List<LedgerReceipt>>(ProtocolJson.Api, ct) ?? [];
    }

    /// <summary>The hub's proof that its tree of <paramref name="from"/> entries is a prefix of its tree of <paramref name="to"/>.</summary>
    public async Task<ConsistencyProof> ConsistencyProofAsync(long from, long to, CancellationToken ct)
    {
        using var response = await _http.GetAsync($"/api/ledger/proof/consistency?from={from}&to={to}", ct);
        await EnsureOk(response, ct);
        return await response.Content.ReadFromJsonAsync<ConsistencyProof>(ProtocolJson.Api, ct) ?? throw new InvalidOperationException("the hub sent no consistency proof");
    }

    private static async Task EnsureOk(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.IsSuccessStatusCode) return;
        var body = await response.Content.ReadAsStringAsync(ct);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
            throw new HubAuthenticationException($"the hub refused this station's token (401): {body}");
        throw new HttpRequestException($"hub answered {(int)response.StatusCode} {response.StatusCode}: {body}", null, response.StatusCode);
    }
}
