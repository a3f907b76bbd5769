using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HealthTrain.Hub.Tests.Ledger;

/// <summary>The ledger endpoints on a real Kestrel host with the hub's token authentication, checked by the client verifier over HTTP.</summary>
public sealed class LedgerEndpointsTests : IAsyncLifetime
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly LedgerFixture f = new();
    private WebApplication? app;
    private HttpClient anonymous = null!;
    private HttpClient client = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(f.Db);
        builder.Services.AddSingleton<Identities>();
        builder.Services.AddSingleton(f.Signer);
        builder.Services.AddSingleton<LedgerStore>();
        builder.Services.AddSingleton<StationReceipts>();
        builder.Services.AddAuthentication(TokenAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, TokenAuthenticationHandler>(TokenAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder().AddPolicy("authenticated", p => p.RequireAuthenticatedUser())
            .AddPolicy(Roles.Station, p => p.RequireRole(Roles.Station));
        app = builder.Build();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapLedgerEndpoints();
        await app.StartAsync();

        var baseAddress = new Uri(app.Urls.First());
        anonymous = new HttpClient { BaseAddress = baseAddress };
        client = new HttpClient { BaseAddress = baseAddress };
        var token = new Identities(f.Db).Create("hospital-a", Roles.Station).Token;
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public async Task DisposeAsync()
    {
        anonymous.Dispose();
        client.Dispose();
        if (app is not null) await app.DisposeAsync();
        f.Dispose();
    }

    [Fact]
    public async Task Anonymous_callers_get_nothing()
    {
        foreach (var path in new[] { "/api/ledger/head", "/api/ledger/key", "/api/ledger/entries?from=0&count=1", "/api/ledger/proof/consistency?from=0&to=0" })
            Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task A_client_verifies_the_ledger_from_what_the_endpoints_serve()
    {
        var receipts = f.RecordMany(6);
        var key = await Get<LedgerKey>("/api/ledger/key");
        Assert.Equal(f.Signer.KeyId, key.KeyId);
        var hubKey = LedgerSignatures.PublicKeyFromPem(key.PublicKeyPem);

        var trusted = await Get<SignedTreeHead>("/api/ledger/head?treeSize=4");
        f.RecordMany(4, start: 6);
        var latest = await Get<SignedTreeHead>("/api/ledger/head");
        Assert.Equal(10, latest.TreeSize);
        var consistency = await Get<ConsistencyProof>($"/api/ledger/proof/consistency?from=4&to={latest.TreeSize}");
        var entries = await Get<List<LedgerRecord>>("/api/ledger/entries?from=0&count=10");
        var proofs = new List<InclusionProof>();
        for (var i = 0; i < 10; i++) proofs.Add(await Get<InclusionProof>($"/api/ledger/proof/inclusion?index={i}&treeSize={latest.TreeSize}"));

        var verdict = LedgerVerifier.Verify(new LedgerAuditInput(hubKey, latest)
        {
            Trusted = trusted,
            Consistency = consistency,
            Receipts = receipts,
            EntriesTo = latest.TreeSize,
            Entries = entries,
            Proofs = proofs,
            ActorKeys = id => id == key.KeyId ? hubKey : null,
        });
        Assert.True(verdict.Ok, string.Join("\n", verdict.Findings));
        Assert.Equal("job/3", entries[3].Parse().Subject);
    }

    [Theory]
    [InlineData("/api/ledger/entries?from=0&count=0", HttpStatusCode.BadRequest)]
    [InlineData("/api/ledger/entries?from=-1&count=5", HttpStatusCode.BadRequest)]
    [InlineData("/api/ledger/entries?from=0&count=1001", HttpStatusCode.BadRequest)]
    [InlineData("/api/ledger/proof/inclusion?index=3&treeSize=3", HttpStatusCode.BadRequest)]
    [InlineData("/api/ledger/proof/inclusion?index=0&treeSize=4", HttpStatusCode.BadRequest)]
    [InlineData("/api/ledger/proof/inclusion?index=0", HttpStatusCode.BadRequest)]
    [InlineData("/api/ledger/proof/consistency?from=3&to=2", HttpStatusCode.BadRequest)]
    [InlineData("/api/ledger/head?treeSize=9", HttpStatusCode.NotFound)]
    [InlineData("/api/ledger/entries?from=1&count=1000", HttpStatusCode.OK)]
    [InlineData("/api/station/receipts?count=0", HttpStatusCode.BadRequest)]
    [InlineData("/api/station/receipts?count=501", HttpStatusCode.BadRequest)]
    [InlineData("/api/station/receipts?after=-1", HttpStatusCode.OK)]
    public async Task Bad_requests_are_answered_with_the_reason(string path, HttpStatusCode expected)
    {
        f.RecordMany(3);
        var response = await client.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
        if (expected != HttpStatusCode.OK) Assert.False(string.IsNullOrEmpty((await response.Content.ReadFromJsonAsync<ApiError>(Json))?.Error));
    }

    [Fact]
    public async Task A_station_is_served_sound_receipts_of_its_own_entries_only()
    {
        var identities = new Identities(f.Db);
        identities.Create("hospital-b", Roles.Station);
        var (station, other) = (identities.FindByName("hospital-a")!, identities.FindByName("hospital-b")!);
        var appended = f.RecordMany(6);
        using (var c = f.Db.Open())
        using (var tx = c.BeginTransaction())
        {
            foreach (var r in appended) StationReceipts.Keep(c, tx, r.Record.Index % 2 == 0 ? station.Id : other.Id, r);
            tx.Commit();
        }

        var served = await Get<List<LedgerReceipt>>("/api/station/receipts?after=0");
        Assert.Equal([2L, 4L], served.Select(r => r.Record.Index));
        Assert.All(served, r => Assert.Null(r.Problem(f.Signer.PublicKey)));
        Assert.Equal(appended[2].Record.Leaf, served[0].Record.Leaf);
        Assert.Equal(appended[2].Head.TreeSize, served[0].Head.TreeSize);
    }

    private async Task<T> Get<T>(string path)
    {
        var response = await client.GetAsync(path);
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<T>(Json))!;
    }
}
