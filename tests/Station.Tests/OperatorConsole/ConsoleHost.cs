using System.Net;
using System.Text.RegularExpressions;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Jobs;
using HealthTrain.Station.OperatorConsole;
using HealthTrain.Station.Release;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace HealthTrain.Station.Tests.OperatorConsole;

/// <summary>
/// The station console on a loopback port of its own, in process, over the station's real stores in a temporary data
/// folder: everything of the station but the hub client, Docker and the job worker.
/// </summary>
public sealed partial class ConsoleHost : IAsyncDisposable
{
    public const string OperatorName = "dana";
    public const string OperatorToken = "st_console-test-token-0123456789";

    private readonly WebApplication _app;

    public string DataDir { get; }
    public Uri BaseAddress { get; }
    public ApprovalStore Approvals => _app.Services.GetRequiredService<ApprovalStore>();
    public ReleaseStore Releases => _app.Services.GetRequiredService<ReleaseStore>();
    public JobHistory History => _app.Services.GetRequiredService<JobHistory>();
    public FhirStore Store => _app.Services.GetRequiredService<FhirStore>();

    private ConsoleHost(WebApplication app, string dataDir, Uri baseAddress) => (_app, DataDir, BaseAddress) = (app, dataDir, baseAddress);

    public static async Task<ConsoleHost> StartAsync()
    {
        var dataDir = Directory.CreateTempSubdirectory("ht-console-").FullName;
        var options = new StationOptions
        {
            Name = "test-clinic", HubUrl = "http://127.0.0.1:9", Token = "unused", DataDir = dataDir,
            Operators = { [OperatorName] = OperatorToken },
            Release = { Manual = [TrainKinds.Statistics, TrainKinds.Training] },
        };
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(_ =>
        {
            var db = new StationDatabase(Path.Combine(dataDir, "station.db"));
            db.Migrate();
            return db;
        });
        builder.Services.AddSingleton(_ => new FhirStore(Path.Combine(dataDir, "fhir.db")));
        builder.Services.AddSingleton<StationStatus>();
        builder.Services.AddSingleton<ApprovalStore>();
        builder.Services.AddSingleton<ApprovalPolicy>();
        builder.Services.AddSingleton<StationOperators>();
        builder.Services.AddSingleton<JobHistory>();
        builder.Services.AddSingleton<ReleaseStore>();
        builder.Services.AddStationConsole(options);
        var app = builder.Build();
        app.MapStationConsole();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ConsoleHost(app, dataDir, new Uri(address));
    }

    /// <summary>A client with its own cookie jar that does not follow redirects, so tests see them.</summary>
    public HttpClient Client() =>
        new(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false }) { BaseAddress = BaseAddress };

    /// <summary>A client signed in as <see cref="OperatorName"/>.</summary>
    public async Task<HttpClient> SignedInAsync()
    {
        var client = Client();
        var response = await PostFormAsync(client, "/console/sign-in", "/console/sign-in", new() { ["token"] = OperatorToken });
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return client;
    }

    /// <summary>Reads <paramref name="page"/> for its form token, then posts the form as a browser would.</summary>
    public static async Task<HttpResponseMessage> PostFormAsync(HttpClient client, string page, string action, Dictionary<string, string> fields)
    {
        var html = await client.GetStringAsync(page);
        return await client.PostAsync(action, new FormUrlEncodedContent(new Dictionary<string, string>(fields) { ["__csrf"] = FormToken(html) }));
    }

    public static string FormToken(string html) => TokenField().Match(html) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException("the page has no form token");

    [GeneratedRegex("name=\"__csrf\" value=\"([^\"]+)\"")]
    private static partial Regex TokenField();

    /// <summary>Records an inspected image waiting for approval, as the approval gate does.</summary>
    public ApprovalInfo Inspected(string train, string version, string author = "alice", string kind = TrainKinds.Statistics)
    {
        var digest = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(train + version)));
        var manifest = ManifestValidator.ParseOrThrow("""
            {"name":"cohort","version":"1.0.0","authors":["alice"],"kind":"statistics","description":"counts patients",
             "inputs":[{"kind":"fhir-resources","resourceType":"Patient"},
                       {"kind":"view","name":"ages","view":{"resourceType":"ViewDefinition","resource":"Patient","name":"ages",
                        "select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"birth","path":"birthDate","type":"date"}]}]}}],
             "outputs":{"statistics":[{"name":"patients","kind":"count"}]},
             "resources":{"cpus":1,"memoryMb":256,"timeoutSeconds":60}}
            """);
        var report = new InspectionReport(digest, $"{author}/{train}", train, version, kind, author,
            [new ImageSigner(new string('a', 64), ImageSigner.HubRole, "hub"), new ImageSigner(new string('b', 64), ImageSigner.AuthorRole, author)],
            [new ImageLayerInfo("sha256:" + new string('c', 64), 4096, "application/vnd.oci.image.layer.v1.tar+gzip")], 4096,
            new ImageConfigSummary("65532:65532", ["/app/train"], [], ["PATH=/usr/bin"], [], [], new Dictionary<string, string>(), "/app"),
            manifest, null, [], DateTimeOffset.UtcNow);
        return Approvals.RecordInspection(report);
    }

    public static JobAssignment Job(long id, string train = "cohort", string version = "1.0.0") =>
        new(id, 7, 2, 1, train, version, "127.0.0.1:7000/alice/cohort@sha256:" + new string('d', 64), "sha256:" + new string('d', 64), "{}", new());

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(DataDir, recursive: true);
    }
}
