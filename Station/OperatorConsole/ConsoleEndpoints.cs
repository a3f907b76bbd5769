using System.Globalization;
using System.Security.Claims;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Jobs;
using HealthTrain.Station.Release;
using HealthTrain.Trains.Protocol;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;

namespace HealthTrain.Station.OperatorConsole;

/// <summary>
/// The station console: server-rendered pages for the station's operator, on the station's loopback port beside its API.
/// Sign-in takes an operator token (the same as the approval API's) and gives an HttpOnly, SameSite=Strict cookie; every
/// form carries an antiforgery token; decisions go through the same stores as the API and the job worker.
/// </summary>
public static class ConsoleEndpoints
{
    /// <summary>The cookie authentication scheme of the console.</summary>
    public const string Scheme = "station-console";

    public const string SessionCookie = "station_console";
    public const string AntiforgeryCookie = "station_console_af";

    /// <summary>The form field that carries the antiforgery token.</summary>
    public const string AntiforgeryField = "__csrf";

    /// <summary>Registers the console's cookie authentication and antiforgery, with keys kept in DataDir so sessions survive a restart.</summary>
    public static IServiceCollection AddStationConsole(this IServiceCollection services, StationOptions options)
    {
        // Whoever reads these keys can forge a session: only the station's own user may.
        var keys = Directory.CreateDirectory(Path.Combine(options.DataDir, "console-keys"));
        File.SetUnixFileMode(keys.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        services.AddDataProtection()
            .SetApplicationName("healthtrain-station")
            .PersistKeysToFileSystem(keys);
        services.AddAuthentication(Scheme).AddCookie(Scheme, cookie =>
        {
            cookie.Cookie.Name = SessionCookie;
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Strict;
            cookie.Cookie.Path = "/console";
            // The console is served on loopback over plain HTTP; behind TLS the cookie is marked Secure.
            cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            cookie.ExpireTimeSpan = TimeSpan.FromHours(8);
            cookie.SlidingExpiration = true;
        });
        services.AddAntiforgery(af =>
        {
            af.Cookie.Name = AntiforgeryCookie;
            af.Cookie.HttpOnly = true;
            af.Cookie.SameSite = SameSiteMode.Strict;
            af.Cookie.Path = "/console";
            af.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            af.FormFieldName = AntiforgeryField;
        });
        return services;
    }

    public static void MapStationConsole(this IEndpointRouteBuilder app)
    {
        var console = app.MapGroup("/console").AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            // Operator actions over plain HTTP stay on this machine, whatever address the station was bound to.
            if (http.Connection.RemoteIpAddress is { } remote && !System.Net.IPAddress.IsLoopback(remote))
                return Results.Text("the station console answers only on loopback", statusCode: StatusCodes.Status403Forbidden);
            http.Response.Headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
            http.Response.Headers.XContentTypeOptions = "nosniff";
            http.Response.Headers["Referrer-Policy"] = "no-referrer";
            // The session is read before the antiforgery check: a signed-in operator's form tokens are bound to them.
            if (await http.AuthenticateAsync(Scheme) is { Succeeded: true } auth) http.User = auth.Principal;
            if (HttpMethods.IsPost(http.Request.Method))
            {
                try
                {
                    await http.RequestServices.GetRequiredService<IAntiforgery>().ValidateRequestAsync(http);
                }
                catch (AntiforgeryValidationException)
                {
                    return Page(http, "Refused", null, ConsolePages.Message("This form did not come from a page of this console, or it has expired. Go back, reload the page and try again."),
                        StatusCodes.Status400BadRequest);
                }
            }
            return await next(context);
        });
        console.MapGet("/sign-in", (HttpContext http) => Page(http, "Sign in", null, ConsolePages.SignIn(Token(http), null)));
        console.MapPost("/sign-in", async (HttpContext http, StationOperators operators) =>
        {
            var form = await http.Request.ReadFormAsync();
            var name = operators.Authenticate(form["token"].ToString().Trim());
            if (name is null)
                return Page(http, "Sign in", null, ConsolePages.SignIn(Token(http), "That is not a station operator token."), StatusCodes.Status401Unauthorized);
            var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, name), new Claim(ClaimTypes.Name, name)], Scheme);
            await http.SignInAsync(Scheme, new ClaimsPrincipal(identity));
            return Results.Redirect("/console/approvals");
        });

        var signedIn = console.MapGroup("").AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            var name = http.User.Identity is { IsAuthenticated: true, AuthenticationType: Scheme } identity ? identity.Name : null;
            if (name is null || !http.RequestServices.GetRequiredService<StationOperators>().Has(name))
            {
                if (HttpMethods.IsGet(http.Request.Method)) return Results.Redirect("/console/sign-in");
                return Page(http, "Sign in", null, ConsolePages.Message("Sign in first: this action needs a station operator."), StatusCodes.Status401Unauthorized);
            }
            return await next(context);
        });
        signedIn.MapGet("", () => Results.Redirect("/console/approvals"));
        signedIn.MapPost("/sign-out", async (HttpContext http) =>
        {
            await http.SignOutAsync(Scheme);
            return Results.Redirect("/console/sign-in");
        });

        signedIn.MapGet("/approvals", (HttpContext http, ApprovalStore approvals) =>
            Page(http, "Approvals", Operator(http), ConsolePages.Approvals(approvals.List())));
        signedIn.MapGet("/approvals/{digest}", (string digest, HttpContext http, ApprovalStore approvals, ApprovalPolicy policy) =>
            approvals.Find(digest, withReport: true) is { } approval
                ? Page(http, $"{approval.Train} {approval.Version}", Operator(http), ConsolePages.Approval(approval, approvals.History(digest), policy, Token(http)))
                : NotFound(http, $"No image {digest} was inspected at this station."));
        signedIn.MapPost("/approvals/{digest}/{decision}", async (string digest, string decision, HttpContext http, ApprovalStore approvals) =>
        {
            var state = decision switch { "approve" => ApprovalStates.Approved, "reject" => ApprovalStates.Rejected, _ => null };
            if (state is null) return NotFound(http, $"'{decision}' is not a decision: approve or reject.");
            var reason = (await http.Request.ReadFormAsync())["reason"].ToString().Trim();
            if (state == ApprovalStates.Rejected && reason.Length == 0)
                return Page(http, "Refused", Operator(http), ConsolePages.Message("A rejection needs a reason: the researcher and the ledger read it."), StatusCodes.Status400BadRequest);
            // The same store call as POST /api/approvals/{digest}/{decision}: the job worker takes parked jobs up from it.
            return approvals.Decide(digest, state, Operator(http), reason.Length == 0 ? null : reason) is null
                ? NotFound(http, $"No image {digest} was inspected at this station.")
                : Results.Redirect($"/console/approvals/{Uri.EscapeDataString(digest)}");
        });

        signedIn.MapGet("/jobs", (HttpContext http, JobHistory history) =>
            Page(http, "Jobs", Operator(http), ConsolePages.Jobs(history.Recent())));

        signedIn.MapGet("/releases", (HttpContext http, ReleaseStore releases, StationOptions options) =>
            Page(http, "Releases", Operator(http), ConsolePages.Releases(releases.All(), options.Release)));
        signedIn.MapGet("/releases/{jobId:long}", (long jobId, HttpContext http, ReleaseStore releases) =>
            releases.Find(jobId) is { } held
                ? Page(http, $"Result of job {jobId}", Operator(http), ConsolePages.Release(held, ResultReader.Read(held), Token(http)))
                : NotFound(http, $"No result of job {jobId} is held at this station."));
        signedIn.MapPost("/releases/{jobId:long}/{decision}", async (long jobId, string decision, HttpContext http, ReleaseStore releases) =>
        {
            var state = decision switch { "release" => ReleaseStates.Released, "withhold" => ReleaseStates.Withheld, _ => null };
            if (state is null) return NotFound(http, $"'{decision}' is not a decision: release or withhold.");
            var reason = (await http.Request.ReadFormAsync())["reason"].ToString().Trim();
            if (state == ReleaseStates.Withheld && reason.Length == 0)
                return Page(http, "Refused", Operator(http), ConsolePages.Message("Withholding a result needs a reason: the researcher reads it as the job's failure."),
                    StatusCodes.Status400BadRequest);
            return releases.Decide(jobId, state, Operator(http), reason.Length == 0 ? null : reason) is null
                ? Page(http, "Refused", Operator(http), ConsolePages.Message($"No result of job {jobId} waits for a decision: it was decided already or never held."),
                    StatusCodes.Status409Conflict)
                : Results.Redirect("/console/releases");
        });

        signedIn.MapGet("/catalog", (HttpContext http, FhirStore store, StationStatus status, ApprovalStore approvals) =>
            Page(http, "Data catalog", Operator(http), ConsolePages.Catalog(DataCatalog.Read(store, status, approvals), status)));
    }

    private static string Operator(HttpContext http) => http.User.Identity!.Name!;

    private static string Token(HttpContext http) => http.RequestServices.GetRequiredService<IAntiforgery>().GetAndStoreTokens(http).RequestToken!;

    private static IResult NotFound(HttpContext http, string message) =>
        Page(http, "Not found", http.User.Identity?.Name, ConsolePages.Message(message), StatusCodes.Status404NotFound);

    private static IResult Page(HttpContext http, string title, string? operatorName, Html body, int status = StatusCodes.Status200OK)
    {
        var station = http.RequestServices.GetRequiredService<StationOptions>().Name;
        var signOut = operatorName is null ? Html.Empty : Html.Of($"""
            <form method="post" action="/console/sign-out" class="signout"><input type="hidden" name="{AntiforgeryField}" value="{Token(http)}">
            signed in as <b>{operatorName}</b> <button type="submit">Sign out</button></form>
            """);
        var page = ConsolePages.Layout(station, title, operatorName is not null, signOut, body);
        return Results.Content(page.Value, "text/html; charset=utf-8", statusCode: status);
    }

    /// <summary>A timestamp as the console shows it (UTC, to the second).</summary>
    internal static string When(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) ?? "";
}
