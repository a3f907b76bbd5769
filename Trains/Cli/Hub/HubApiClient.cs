using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Cli.Hub;

/// <summary>Thrown when the hub refuses a request; the message carries the hub's own explanation.</summary>
public sealed class HubApiException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}

/// <summary>Where the hub is and who we are to it.</summary>
public sealed record HubConnection(Uri Url, string Token)
{
    /// <summary>The registry host for Docker: the hub's host and port.</summary>
    public string RegistryHost => Url.Authority;
}

/// <summary>The researcher's and operator's typed client for the hub API.</summary>
public sealed class HubApiClient(HubConnection connection) : IDisposable
{
    private readonly HttpClient _http = new()
    {
        BaseAddress = connection.Url,
        DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", connection.Token) },
        Timeout = TimeSpan.FromMinutes(5),
    };

    public HubConnection Connection => connection;

    public Task<Caller> WhoAmIAsync(CancellationToken ct = default) => GetAsync<Caller>("/api/whoami", ct);
    public Task<IdentityCreated> CreateIdentityAsync(string name, string role, CancellationToken ct = default) =>
        PostAsync<IdentityCreated>("/api/identities", new IdentityRequest(name, role), ct);
    public Task<List<IdentityInfo>> ListIdentitiesAsync(CancellationToken ct = default) => GetAsync<List<IdentityInfo>>("/api/identities", ct);
    public Task<List<IdentityInfo>> ListStationsAsync(CancellationToken ct = default) => GetAsync<List<IdentityInfo>>("/api/stations", ct);
    public Task<TrainInfo> SubmitTrainAsync(TrainSubmission submission, CancellationToken ct = default) => PostAsync<TrainInfo>("/api/trains", submission, ct);
    public Task<List<TrainInfo>> ListTrainsAsync(CancellationToken ct = default) => GetAsync<List<TrainInfo>>("/api/trains", ct);
    public Task<TrainInfo> GetTrainAsync(long id, CancellationToken ct = default) => GetAsync<TrainInfo>($"/api/trains/{id}", ct);
    public Task<TrainInfo> CheckTrainAsync(long id, CancellationToken ct = default) => PostAsync<TrainInfo>($"/api/trains/{id}/check", new { }, ct);
    public Task<TrainInfo> PublishTrainAsync(long id, string? reason, CancellationToken ct = default) =>
        PostAsync<TrainInfo>($"/api/trains/{id}/publish", new TrainDecision(reason), ct);
    public Task<TrainInfo> RejectTrainAsync(long id, string reason, CancellationToken ct = default) =>
        PostAsync<TrainInfo>($"/api/trains/{id}/reject", new TrainDecision(reason), ct);
    public Task<KeyInfo> RegisterKeyAsync(string publicKeyPem, CancellationToken ct = default) =>
        PostAsync<KeyInfo>("/api/keys", new KeyRegistration(publicKeyPem), ct);
    public Task<List<KeyInfo>> ListKeysAsync(CancellationToken ct = default) => GetAsync<List<KeyInfo>>("/api/keys", ct);
    public async Task<KeyInfo> RevokeKeyAsync(string keyId, CancellationToken ct = default)
    {
        using var response = await _http.DeleteAsync($"/api/keys/{Uri.EscapeDataString(keyId)}", ct);
        return await ReadAsync<KeyInfo>(response, ct);
    }
    public Task<HubKeys> GetHubKeysAsync(CancellationToken ct = default) => GetAsync<HubKeys>("/api/hub/keys", ct);
    public Task<List<ModelVersionInfo>> ListModelsAsync(long? run = null, CancellationToken ct = default) =>
        GetAsync<List<ModelVersionInfo>>("/api/models" + (run is null ? "" : $"?run={run}"), ct);
    public Task<ModelVersionInfo> GetModelAsync(string reference, CancellationToken ct = default) => GetAsync<ModelVersionInfo>($"/api/models/{reference}", ct);

    /// <summary>One model version's lineage as W3C PROV-JSON.</summary>
    public Task<System.Text.Json.Nodes.JsonObject> GetModelProvenanceAsync(string reference, CancellationToken ct = default) =>
        GetAsync<System.Text.Json.Nodes.JsonObject>($"/api/models/{reference}/provenance", ct);

    /// <summary>Downloads a model version's safetensors file to <paramref name="path"/>.</summary>
    public async Task DownloadModelAsync(string reference, string path, CancellationToken ct = default)
    {
        using var response = await _http.GetAsync($"/api/models/{reference}/file", HttpCompletionOption.ResponseHeadersRead, ct);
        if (!response.IsSuccessStatusCode) await ReadAsync<ApiError>(response, ct);
        await using var file = File.Create(path);
        await response.Content.CopyToAsync(file, ct);
    }
    public Task<RunInfo> StartRunAsync(RunRequest request, CancellationToken ct = default) => PostAsync<RunInfo>("/api/runs", request, ct);
    public Task<List<RunInfo>> ListRunsAsync(CancellationToken ct = default) => GetAsync<List<RunInfo>>("/api/runs", ct);
    public Task<RunInfo> GetRunAsync(long id, CancellationToken ct = default) => GetAsync<RunInfo>($"/api/runs/{id}", ct);
    public Task<System.Text.Json.Nodes.JsonObject> GetProvenanceAsync(long id, CancellationToken ct = default) =>
        GetAsync<System.Text.Json.Nodes.JsonObject>($"/api/runs/{id}/prov", ct);
    public Task<RunResults> GetResultsAsync(long id, CancellationToken ct = default) => GetAsync<RunResults>($"/api/runs/{id}/results", ct);

    public Task<LedgerKey> GetLedgerKeyAsync(CancellationToken ct = default) => GetAsync<LedgerKey>("/api/ledger/key", ct);
    public Task<SignedTreeHead> GetLedgerHeadAsync(CancellationToken ct = default) => GetAsync<SignedTreeHead>("/api/ledger/head", ct);
    public Task<List<LedgerRecord>> GetLedgerEntriesAsync(long from, int count, CancellationToken ct = default) =>
        GetAsync<List<LedgerRecord>>($"/api/ledger/entries?from={from}&count={count}", ct);
    public Task<InclusionProof> GetInclusionProofAsync(long index, long treeSize, CancellationToken ct = default) =>
        GetAsync<InclusionProof>($"/api/ledger/proof/inclusion?index={index}&treeSize={treeSize}", ct);
    public Task<ConsistencyProof> GetConsistencyProofAsync(long from, long to, CancellationToken ct = default) =>
        GetAsync<ConsistencyProof>($"/api/ledger/proof/consistency?from={from}&to={to}", ct);

    /// <summary>Polls until the run leaves the running state, reporting each change of its jobs.</summary>
    public async Task<RunInfo> WaitForRunAsync(long id, Action<RunInfo>? onChange, TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        string? last = null;
        while (true)
        {
            var run = await GetRunAsync(id, ct);
            var snapshot = string.Join(",", run.Jobs.Select(j => j.Station + ":" + j.State)) + run.State;
            if (snapshot != last) { onChange?.Invoke(run); last = snapshot; }
            if (run.State != RunStates.Running) return run;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"run {id} still running after {timeout.TotalSeconds:0} s");
            await Task.Delay(250, ct);
        }
    }

    private async Task<T> GetAsync<T>(string path, CancellationToken ct)
    {
        using var response = await _http.GetAsync(path, ct);
        return await ReadAsync<T>(response, ct);
    }

    private async Task<T> PostAsync<T>(string path, object body, CancellationToken ct)
    {
        using var response = await _http.PostAsync(path, JsonContent.Create(body, body.GetType(), options: ProtocolJson.Api), ct);
        return await ReadAsync<T>(response, ct);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        var body = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            var message = $"the hub answered {(int)response.StatusCode} {response.StatusCode}";
            try
            {
                var error = JsonSerializer.Deserialize<ApiError>(body, ProtocolJson.Api);
                if (error is not null)
                {
                    message = error.Error;
                    if (error.Details is { Count: > 0 }) message += Environment.NewLine + string.Join(Environment.NewLine, error.Details.Select(d => "  " + d));
                }
            }
            catch (JsonException) { if (body.Length > 0) message += ": " + body; }
            throw new HubApiException(response.StatusCode, message);
        }
        return JsonSerializer.Deserialize<T>(body, ProtocolJson.Api)
            ?? throw new HubApiException(response.StatusCode, "the hub sent an empty answer");
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The identity the hub knows us as.</summary>
public sealed record Caller(long Id, string Name, string Role);
