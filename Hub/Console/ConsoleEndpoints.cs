using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Models;
using HealthTrain.Hub.Registry;
using HealthTrain.Hub.Runs;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Trains.Protocol.Signing;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using static HealthTrain.Hub.Console.Markup;

namespace HealthTrain.Hub.Console;

/// <summary>
/// The hub operator's web console under <c>/console</c>: trains to publish or reject, runs with live progress, model
/// versions with lineage, metric plots and provenance pictures, and the ledger with a full check. Operators only, by
/// session cookie (<see cref="ConsoleAccess"/>); every POST carries an antiforgery token.
/// </summary>
public static class ConsoleEndpoints
{
    private const int RecentLedgerEntries = 25;

    public static void MapConsoleEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/console/sign-in", (HttpContext http, string? returnUrl) =>
            ConsolePages.Page(http, "Sign in", ConsolePages.SignIn(http, ConsoleAccess.SafeReturnPath(returnUrl), null))).AllowAnonymous();
        app.MapPost("/console/sign-in", SignInAsync).AllowAnonymous();

        var console = app.MapGroup("/console").RequireAuthorization(ConsoleAccess.Policy);
        console.MapGet("", () => Results.Redirect("/console/trains"));
        console.MapPost("/sign-out", async (HttpContext http, IAntiforgery antiforgery) =>
        {
            if (await RefuseForgedAsync(http, antiforgery) is { } refused) return refused;
            await http.SignOutAsync(ConsoleAccess.Scheme);
            return Results.Redirect("/console/sign-in", permanent: false, preserveMethod: false);
        });

        console.MapGet("/trains", (HttpContext http, TrainCatalog catalog) =>
            ConsolePages.Page(http, "Trains", ConsolePages.Trains(catalog.List(http.User.Caller()))));
        console.MapGet("/trains/{id:long}", (long id, string? notice, HttpContext http, TrainCatalog catalog, PublicationKey key) =>
            catalog.Find(id, http.User.Caller()) is { } train
                ? ConsolePages.Page(http, $"Train #{train.Id} {train.Repository}:{train.Version}", ConsolePages.Train(http, train, key, notice, null))
                : NotFound(http, $"no train {id}"));
        console.MapPost("/trains/{id:long}/publish", PublishAsync);
        console.MapPost("/trains/{id:long}/reject", RejectAsync);

        console.MapGet("/runs", (HttpContext http, RunStore runs) => ConsolePages.Page(http, "Runs", ConsolePages.Runs(runs.List(http.User.Caller()))));
        console.MapGet("/runs/{id:long}", (long id, HttpContext http, RunStore runs, ModelVersions versions) =>
        {
            var caller = http.User.Caller();
            if (runs.Find(id, caller) is not { } run) return NotFound(http, $"no run {id}");
            var progress = RunProgress.Of(run, runs.Results(id, caller));
            return ConsolePages.Page(http, $"Run #{run.Id}", ConsolePages.Run(run, progress, versions.List(caller, id)),
                script: new Markup(ConsolePages.RunScript));
        });
        console.MapGet("/runs/{id:long}/progress", (long id, HttpContext http, RunStore runs) =>
        {
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers.CacheControl = "no-store";
            return runs.Find(id, http.User.Caller()) is { } run
                ? Results.Json(RunProgress.Of(run, runs.Results(id, http.User.Caller())))
                : Results.NotFound(new ApiError($"no run {id}"));
        });
        console.MapGet("/runs/{id:long}/provenance.svg", (long id, HttpContext http, RunProvenance provenance) =>
            provenance.Export(id, http.User.Caller()) is { } prov ? Svg(ProvenanceGraph.Render(prov)) : NotFound(http, $"no run {id}"));

        console.MapGet("/models", (HttpContext http, ModelVersions versions) =>
            ConsolePages.Page(http, "Model versions", ConsolePages.Models(versions.List(http.User.Caller(), null))));
        console.MapGet("/models/{run:long}/{round:int}", (long run, int round, HttpContext http, ModelVersions versions, RunProvenance provenance, LedgerStore ledger) =>
        {
            var caller = http.User.Caller();
            if (versions.Find(caller, $"{run}/{round}") is not { } version) return NotFound(http, $"no model version {run}/{round}");
            var picture = provenance.Export(run, caller) is { } prov ? ModelProvenance(prov, version) : Html($"<p class=\"muted\">No provenance for run {run}.</p>");
            return ConsolePages.Page(http, $"Model version {run}/{round}",
                ConsolePages.Model(version, versions.List(caller, run), picture, LatestEntry(ledger, LedgerKinds.ModelVersioned, $"model/{version.Id}")));
        });
        console.MapGet("/models/{run:long}/{round:int}/provenance.svg", (long run, int round, HttpContext http, ModelVersions versions, RunProvenance provenance) =>
            versions.Find(http.User.Caller(), $"{run}/{round}") is { } version && provenance.Export(run, http.User.Caller()) is { } prov
                ? Svg(ModelProvenance(prov, version))
                : NotFound(http, $"no model version {run}/{round}"));

        console.MapGet("/ledger", (HttpContext http, LedgerStore ledger, LedgerSigner signer) => LedgerPage(http, ledger, signer, null));
        console.MapPost("/ledger/verify", async (HttpContext http, IAntiforgery antiforgery, LedgerStore ledger, LedgerSigner signer, LedgerAudit audit) =>
            await RefuseForgedAsync(http, antiforgery) ?? LedgerPage(http, ledger, signer, audit.Run()));
    }

    private static async Task<IResult> SignInAsync(HttpContext http, IAntiforgery antiforgery, Identities identities)
    {
        if (await RefuseForgedAsync(http, antiforgery) is { } refused) return refused;
        var form = await http.Request.ReadFormAsync();
        var returnUrl = ConsoleAccess.SafeReturnPath(form["returnUrl"]);
        var (_, refusal) = await ConsoleAccess.SignInAsync(http, identities, form["token"]);
        if (refusal is null) return Results.Redirect(returnUrl);
        var status = refusal.StartsWith("unknown", StringComparison.Ordinal) || refusal.StartsWith("paste", StringComparison.Ordinal)
            ? StatusCodes.Status401Unauthorized : StatusCodes.Status403Forbidden;
        return ConsolePages.Page(http, "Sign in", ConsolePages.SignIn(http, returnUrl, refusal), status);
    }

    /// <summary>Publishes through <see cref="TrainPublication"/>, as <c>POST /api/trains/{id}/publish</c> does: the same signature and ledger entry.</summary>
    private static async Task<IResult> PublishAsync(long id, HttpContext http, IAntiforgery antiforgery, TrainCatalog catalog, TrainPublication publication,
        PublicationKey key, CancellationToken ct)
    {
        if (await RefuseForgedAsync(http, antiforgery) is { } refused) return refused;
        var caller = http.User.Caller();
        if (catalog.Find(id, caller) is not { } train) return NotFound(http, $"no train {id}");
        var reason = (await http.Request.ReadFormAsync(ct))["reason"].ToString().Trim();
        string? error;
        int status;
        try
        {
            await publication.PublishAsync(train, caller.Name, reason.Length == 0 ? null : reason, http.Request.Host.Value ?? "", ct);
            return Results.Redirect($"/console/trains/{id}?notice={Uri.EscapeDataString($"published train {id}: the hub's signature is on {train.Digest}")}");
        }
        catch (InvalidOperationException e) { (error, status) = (e.Message, StatusCodes.Status409Conflict); }
        catch (RegistryImageException e) { (error, status) = (e.Message, StatusCodes.Status400BadRequest); }
        catch (Exception e) when (e is RegistryUnavailableException or SignatureRegistryException)
        {
            (error, status) = ($"the registry could not take the hub's signature: {e.Message}", StatusCodes.Status502BadGateway);
        }
        return TrainWithError(http, catalog, key, id, caller, error, status);
    }

    /// <summary>Rejects through <see cref="TrainPublication"/>, as <c>POST /api/trains/{id}/reject</c> does.</summary>
    private static async Task<IResult> RejectAsync(long id, HttpContext http, IAntiforgery antiforgery, TrainCatalog catalog, TrainPublication publication,
        PublicationKey key, CancellationToken ct)
    {
        if (await RefuseForgedAsync(http, antiforgery) is { } refused) return refused;
        var caller = http.User.Caller();
        if (catalog.Find(id, caller) is not { } train) return NotFound(http, $"no train {id}");
        var reason = (await http.Request.ReadFormAsync(ct))["reason"].ToString().Trim();
        if (reason.Length == 0) return TrainWithError(http, catalog, key, id, caller, "a rejection needs a reason", StatusCodes.Status400BadRequest);
        try
        {
            publication.Reject(train, caller.Name, reason);
            return Results.Redirect($"/console/trains/{id}?notice={Uri.EscapeDataString($"rejected train {id}")}");
        }
        catch (InvalidOperationException e)
        {
            return TrainWithError(http, catalog, key, id, caller, e.Message, StatusCodes.Status409Conflict);
        }
    }

    private static IResult TrainWithError(HttpContext http, TrainCatalog catalog, PublicationKey key, long id, Caller caller, string error, int status)
    {
        var train = catalog.Find(id, caller)!;
        return ConsolePages.Page(http, $"Train #{train.Id} {train.Repository}:{train.Version}", ConsolePages.Train(http, train, key, null, error), status);
    }

    /// <summary>The run's provenance up to the version's round, the version itself marked.</summary>
    private static Markup ModelProvenance(System.Text.Json.Nodes.JsonObject prov, ModelVersionInfo version) =>
        ProvenanceGraph.Render(prov, version.Round, RunProvenance.ModelId(version),
            "model " + (version.Digest.Length > 19 ? version.Digest[..19] + "…" : version.Digest));

    private static IResult LedgerPage(HttpContext http, LedgerStore ledger, LedgerSigner signer, LedgerAuditReport? audit)
    {
        var head = ledger.Head();
        var from = Math.Max(0, head.TreeSize - RecentLedgerEntries);
        var recent = ledger.Entries(from, RecentLedgerEntries).Select(r => r.Parse()).Reverse().ToList();
        return ConsolePages.Page(http, "Ledger", ConsolePages.LedgerPage(http, head, signer, ledger.Heads().Count, recent, audit),
            StatusCodes.Status200OK);
    }

    /// <summary>The newest entry of that kind about that subject, searched from the end of the ledger back.</summary>
    private static long? LatestEntry(LedgerStore ledger, string kind, string subject)
    {
        for (var to = ledger.Head().TreeSize; to > 0; to -= LedgerEndpoints.MaxEntriesPerPage)
        {
            var from = Math.Max(0, to - LedgerEndpoints.MaxEntriesPerPage);
            if (ledger.Entries(from, (int)(to - from)).Select(r => r.Parse()).LastOrDefault(e => e.Kind == kind && e.Subject == subject) is { } entry)
                return entry.Index;
        }
        return null;
    }

    /// <summary>Null when the request carries a valid antiforgery token; otherwise the refusal page.</summary>
    private static async Task<IResult?> RefuseForgedAsync(HttpContext http, IAntiforgery antiforgery)
    {
        try
        {
            await antiforgery.ValidateRequestAsync(http);
            return null;
        }
        catch (AntiforgeryValidationException)
        {
            return ConsolePages.Page(http, "Refused", ConsolePages.Notice(
                "This form did not come from a console page of this hub (its antiforgery token is missing or stale). Reload the page and try again.", error: true),
                StatusCodes.Status400BadRequest);
        }
    }

    private static IResult NotFound(HttpContext http, string what) =>
        ConsolePages.Page(http, "Not found", ConsolePages.Notice(what, error: true), StatusCodes.Status404NotFound);

    private static IResult Svg(Markup svg) => Results.Content("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + svg.Value, "image/svg+xml; charset=utf-8");
}
