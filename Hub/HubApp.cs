using System.Text.Json.Serialization;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Models;
using HealthTrain.Hub.Registry;
using HealthTrain.Hub.Runs;
using HealthTrain.Hub.Storage;
using HealthTrain.Hub.Trains;
using HealthTrain.Hub.Console;
using HealthTrain.Trains.Protocol;
using Microsoft.AspNetCore.Authentication;

namespace HealthTrain.Hub;

/// <summary>The whole hub as one web application: what <c>Program</c> runs, and what in-process tests host.</summary>
public static class HubApp
{
    /// <summary>Builds the hub from command-line style <paramref name="args"/> (<c>--Hub:DataDir=…</c>, <c>--urls=…</c>); migrated and ready to start.</summary>
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        var options = builder.Configuration.GetSection("Hub").Get<HubOptions>() ?? new HubOptions();

        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(_ => new HubDatabase(Path.Combine(options.DataDir, "hub.db")));
        builder.Services.AddSingleton<Identities>();
        builder.Services.AddSingleton<TrainCatalog>();
        builder.Services.AddSingleton<IdentityKeys>();
        // Transient: they hold the typed registry client, which must not live for the hub's lifetime.
        builder.Services.AddTransient<TrainChecks>();
        builder.Services.AddTransient<TrainPublication>();
        builder.Services.AddSingleton<HubSignatureRegistry>();
        builder.Services.AddSingleton(_ => PublicationKey.LoadOrCreate(Path.Combine(options.DataDir, "publication-key.pem")));
        builder.Services.AddSingleton<JobSignal>();
        builder.Services.AddSingleton<RunStore>();
        builder.Services.AddSingleton<JobQueue>();
        builder.Services.AddSingleton<RunProvenance>();
        builder.Services.AddHostedService<LeaseSweeper>();
        builder.Services.AddSingleton<MergeSignal>();
        builder.Services.AddSingleton<ModelFiles>();
        builder.Services.AddSingleton<ModelVersions>();
        builder.Services.AddHostedService<RoundMerger>();
        builder.Services.AddSingleton(_ => LedgerSigner.LoadOrCreate(Path.Combine(options.DataDir, "ledger-key.pem")));
        builder.Services.AddSingleton<LedgerStore>();
        builder.Services.AddSingleton<StationReceipts>();
        builder.Services.AddSingleton<LedgerAudit>();
        builder.Services.AddHubConsole(options);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        });
        builder.Services.AddAuthentication(TokenAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, TokenAuthenticationHandler>(TokenAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy("authenticated", p => p.RequireAuthenticatedUser())
            .AddPolicy(Roles.Operator, p => p.RequireRole(Roles.Operator))
            .AddPolicy(Roles.Researcher, p => p.RequireRole(Roles.Researcher, Roles.Operator))
            .AddPolicy(Roles.Station, p => p.RequireRole(Roles.Station))
            // Nothing is anonymous: an endpoint without its own policy still needs an identity.
            .SetFallbackPolicy(new Microsoft.AspNetCore.Authorization.AuthorizationPolicyBuilder().RequireAuthenticatedUser().Build());
        builder.Services.AddRegistryGateway(options.RegistryUrl);

        var app = builder.Build();
        var db = app.Services.GetRequiredService<HubDatabase>();
        db.Migrate();
        BootstrapOperator(app.Services.GetRequiredService<Identities>(), options, app.Logger);
        // Created at first start, so its public half is there for station operators to pin before any train is published.
        app.Services.GetRequiredService<PublicationKey>();

        app.UseAuthentication();
        app.UseAuthorization();
        app.MapGet("/healthz", () => Results.Ok(new { status = "ok" })).AllowAnonymous();
        app.MapIdentityEndpoints();
        app.MapKeyEndpoints();
        app.MapTrainEndpoints();
        app.MapRunEndpoints();
        app.MapJobEndpoints();
        app.MapLedgerEndpoints();
        app.MapModelEndpoints();
        app.MapRegistryGateway();
        app.MapConsoleEndpoints();
        return app;
    }

    // The first operator must exist before anyone can create identities; its token comes from config or a 0600 file.
    private static void BootstrapOperator(Identities identities, HubOptions options, ILogger log)
    {
        var token = options.OperatorToken;
        var tokenFile = Path.Combine(options.DataDir, "operator.token");
        if (string.IsNullOrEmpty(token) && File.Exists(tokenFile)) token = File.ReadAllText(tokenFile).Trim();
        if (string.IsNullOrEmpty(token))
        {
            token = Identities.NewToken();
            using (var file = new FileStream(tokenFile, new FileStreamOptions
                   { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            using (var writer = new StreamWriter(file))
                writer.Write(token);
            log.LogInformation("operator token written to {File}", tokenFile);
        }
        if (identities.FindByName("operator") is null) identities.Create("operator", Roles.Operator, token);
        else identities.SetToken("operator", token);
    }
}
