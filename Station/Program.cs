using Docker.DotNet;
using HealthTrain.Station;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Audit;
using HealthTrain.Station.Receipts;
using HealthTrain.Station.Inspection;
using HealthTrain.Station.Storage;
using HealthTrain.Station.Execution;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Hub;
using HealthTrain.Station.Jobs;
using HealthTrain.Station.Release;
using HealthTrain.Station.OperatorConsole;

if (await StationCommands.TryRunAsync(args) is { } exitCode) return exitCode;

var builder = WebApplication.CreateBuilder(args);
var options = builder.Configuration.GetSection("Station").Get<StationOptions>() ?? new StationOptions();
var problems = new List<string>();
if (string.IsNullOrWhiteSpace(options.Name)) problems.Add("Station:Name is required");
if (!Uri.TryCreate(options.HubUrl, UriKind.Absolute, out _)) problems.Add("Station:HubUrl must be an absolute URL of the hub");
if (string.IsNullOrWhiteSpace(options.Token)) problems.Add("Station:Token is required (issued by the hub operator)");
if (TrainUserPolicy.WhyInvalid(options.RootImages) is { } rootImages) problems.Add(rootImages);
if (options.MaxOutputBytes <= 0 || options.MaxOutputFiles <= 0) problems.Add("Station:MaxOutputBytes and Station:MaxOutputFiles must be positive");
problems.AddRange(options.Privacy.Validate());
problems.AddRange(options.Disclosure.Validate());
problems.AddRange(options.Release.Validate());
if (problems.Count > 0)
{
    Console.Error.WriteLine("station configuration is incomplete:\n  " + string.Join("\n  ", problems));
    return 2;
}
TrustStore trust;
try
{
    trust = TrustStore.Load(options.Trust);
}
catch (Exception e) when (e is InvalidOperationException or ArgumentException)
{
    Console.Error.WriteLine($"station configuration is invalid: {e.Message}");
    return 2;
}
// Docker binds need absolute paths; a relative DataDir would fail every job at container create.
options.DataDir = Path.GetFullPath(options.DataDir);
Directory.CreateDirectory(options.DataDir);

builder.Services.AddSingleton(options);
builder.Services.AddSingleton(_ => new DockerClientConfiguration(new Uri(options.DockerEndpoint)).CreateClient());
builder.Services.AddSingleton(_ => new FhirStore(Path.Combine(options.DataDir, "fhir.db")));
builder.Services.AddSingleton<StationStatus>();
builder.Services.AddSingleton<TrainImages>();
builder.Services.AddSingleton(_ => new GpuAllocator(options.GpuIds));
builder.Services.AddSingleton<ITrainExecutor, DockerTrainExecutor>();
builder.Services.AddSingleton<TrainInputs>();
builder.Services.AddSingleton<JobRunner>();
builder.Services.AddSingleton<IGlobalModels, HubGlobalModels>();
builder.Services.AddSingleton<HealthTrain.Station.Privacy.StationPrivacy>();
builder.Services.AddSingleton<HealthTrain.Station.Disclosure.StationDisclosure>();
builder.Services.AddSingleton(_ =>
{
    var db = new StationDatabase(Path.Combine(options.DataDir, "station.db"));
    db.Migrate();
    return db;
});
builder.Services.AddSingleton(trust);
builder.Services.AddSingleton<TrainSignatures>();
builder.Services.AddSingleton<StationRegistry>();
builder.Services.AddSingleton<TrainInspector>();
builder.Services.AddSingleton<ApprovalStore>();
builder.Services.AddSingleton<ApprovalPolicy>();
builder.Services.AddSingleton<ApprovalGate>();
builder.Services.AddSingleton<StationOperators>();
builder.Services.AddSingleton<StationAudit>();
builder.Services.AddSingleton<ReceiptStore>();
builder.Services.AddSingleton<ReceiptCollector>();
builder.Services.AddSingleton<JobHistory>();
builder.Services.AddSingleton<ReleaseStore>();
builder.Services.AddStationConsole(options);
builder.Services.AddHttpClient<HubClient>();
builder.Services.AddHostedService<JobWorker>();

var app = builder.Build();
// Fail at start, not at the first decision, when the operator set-up is broken.
app.Services.GetRequiredService<StationOperators>();
app.MapApprovalEndpoints();
app.MapAuditEndpoints();
app.MapReceiptEndpoints();
// The operator's console (/console): same loopback binding as the API below.
app.MapStationConsole();
// Local status for the station's operator; bind the station to loopback (--urls http://127.0.0.1:PORT).
app.MapGet("/api/status", (StationStatus status, FhirStore store) => new
{
    name = options.Name,
    state = status.State,
    resources = store.CountByType(),
    load = status.LastLoad,
    jobsSucceeded = status.JobsSucceeded,
    jobsFailed = status.JobsFailed,
    lastError = status.LastError,
    minCellCount = options.Disclosure.MinCellCount,
});
app.Run();
return 0;
