using System.Security.Claims;
using HealthTrain.Hub.Identity;
using HealthTrain.Trains.Protocol;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;

namespace HealthTrain.Hub.Console;

/// <summary>
/// How operators get into the console: they paste an operator token once; the hub answers with an HttpOnly,
/// SameSite=Strict session cookie that only the console accepts (the API keeps taking bearer tokens only, so the cookie
/// can never be ridden into an API call). The session holds the token's hash and ends as soon as that token is replaced
/// or its identity is no longer an operator.
/// </summary>
public static class ConsoleAccess
{
    public const string Scheme = "HealthTrainConsole";
    public const string Policy = "console-operator";
    public const string CookieName = "healthtrain-console";
    private const string TokenHashClaim = "healthtrain:token-hash";

    public static IServiceCollection AddHubConsole(this IServiceCollection services, HubOptions options)
    {
        // Session cookies and antiforgery tokens stay valid across hub restarts. Whoever reads these keys can mint a
        // session cookie (still useless without an operator's token hash), so the folder is the hub user's only.
        var keys = Path.Combine(options.DataDir, "console-keys");
        const UnixFileMode ownerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Directory.CreateDirectory(keys, ownerOnly);
        File.SetUnixFileMode(keys, ownerOnly);
        services.AddDataProtection()
            .SetApplicationName("healthtrain-hub")
            .PersistKeysToFileSystem(new DirectoryInfo(keys));
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "healthtrain-console-csrf";
            o.Cookie.Path = "/console";
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.HttpOnly = true;
            o.FormFieldName = "csrf";
        });
        services.AddAuthentication().AddCookie(Scheme, o =>
        {
            o.Cookie.Name = CookieName;
            o.Cookie.Path = "/console";
            o.Cookie.HttpOnly = true;
            o.Cookie.SameSite = SameSiteMode.Strict;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.ExpireTimeSpan = TimeSpan.FromHours(8);
            o.SlidingExpiration = true;
            o.LoginPath = "/console/sign-in";
            o.AccessDeniedPath = "/console/sign-in";
            o.ReturnUrlParameter = "returnUrl";
            o.Events.OnValidatePrincipal = ValidateSessionAsync;
        });
        services.AddAuthorizationBuilder().AddPolicy(Policy, p => p.AddAuthenticationSchemes(Scheme).RequireRole(Roles.Operator));
        return services;
    }

    /// <summary>Signs the holder of <paramref name="token"/> in, if it is an operator's; otherwise says why not.</summary>
    public static async Task<(Caller? Operator, string? Refusal)> SignInAsync(HttpContext http, Identities identities, string? token)
    {
        token = token?.Trim();
        if (string.IsNullOrEmpty(token)) return (null, "paste an operator token");
        if (identities.FindByToken(token) is not { } caller) return (null, "unknown token");
        if (caller.Role != Roles.Operator)
            return (null, $"'{caller.Name}' is a {caller.Role}: only hub operators may use the console");
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, caller.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new Claim(ClaimTypes.Name, caller.Name),
            new Claim(ClaimTypes.Role, caller.Role),
            new Claim(TokenHashClaim, Identities.Hash(token)),
        ], Scheme);
        await http.SignInAsync(Scheme, new ClaimsPrincipal(identity));
        return (caller, null);
    }

    private static async Task ValidateSessionAsync(CookieValidatePrincipalContext context)
    {
        var identities = context.HttpContext.RequestServices.GetRequiredService<Identities>();
        var hash = context.Principal?.FindFirstValue(TokenHashClaim);
        if (hash is null || identities.FindByTokenHash(hash) is not { Role: Roles.Operator } caller
            || caller.Name != context.Principal!.Identity?.Name)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(Scheme);
        }
    }

    /// <summary>Where to go after signing in: only a path inside the console, never another site.</summary>
    public static string SafeReturnPath(string? returnUrl) =>
        returnUrl is not null && returnUrl.StartsWith("/console", StringComparison.Ordinal) && !returnUrl.StartsWith("//", StringComparison.Ordinal)
            && !returnUrl.Contains('\\') ? returnUrl : "/console";
}
