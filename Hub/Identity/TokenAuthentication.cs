using System.Security.Claims;
using System.Text;
using System.Text.Encodings.Web;
using HealthTrain.Trains.Protocol;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace HealthTrain.Hub.Identity;

/// <summary>
/// Authenticates every hub request by its identity token: <c>Authorization: Bearer TOKEN</c> for the API,
/// or HTTP Basic <c>NAME:TOKEN</c>, which is what Docker sends to the registry gateway.
/// </summary>
public sealed class TokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, Identities identities)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "HealthTrainToken";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header)) return Task.FromResult(AuthenticateResult.NoResult());

        string? token = null, claimedName = null;
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            token = header["Bearer ".Length..].Trim();
            // A registry token (a JWT the hub issued) is the gateway's to check, not an identity token.
            if (token.Count(c => c == '.') == 2) return Task.FromResult(AuthenticateResult.NoResult());
        }
        else if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            string decoded;
            try { decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim())); }
            catch (FormatException) { return Task.FromResult(AuthenticateResult.Fail("malformed Basic credentials")); }
            var colon = decoded.IndexOf(':');
            if (colon < 0) return Task.FromResult(AuthenticateResult.Fail("malformed Basic credentials"));
            claimedName = decoded[..colon];
            token = decoded[(colon + 1)..];
        }
        if (string.IsNullOrEmpty(token)) return Task.FromResult(AuthenticateResult.Fail("unsupported authorization scheme"));

        var caller = identities.FindByToken(token);
        if (caller is null || (claimedName is not null && claimedName != caller.Name))
            return Task.FromResult(AuthenticateResult.Fail("unknown token"));

        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, caller.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new Claim(ClaimTypes.Name, caller.Name),
            new Claim(ClaimTypes.Role, caller.Role),
        ], SchemeName);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        // Docker only sends credentials after a Basic challenge.
        Response.Headers.WWWAuthenticate = Request.Path.StartsWithSegments("/v2")
            ? "Basic realm=\"HealthTrain hub\""
            : "Bearer realm=\"HealthTrain hub\"";
        await Response.WriteAsJsonAsync(new ApiError("authentication required: send a valid identity token"));
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        await Response.WriteAsJsonAsync(new ApiError("this identity's role may not do that"));
    }
}

/// <summary>Reads the authenticated caller back from the request's claims.</summary>
public static class CallerExtensions
{
    public static Caller Caller(this ClaimsPrincipal user) => new(
        long.Parse(user.FindFirstValue(ClaimTypes.NameIdentifier)!, System.Globalization.CultureInfo.InvariantCulture),
        user.Identity!.Name!,
        user.FindFirstValue(ClaimTypes.Role)!);
}
