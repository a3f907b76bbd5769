using System.Globalization;
using System.Text.Json.Serialization;
using HealthTrain.Hub.Identity;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Registry;

/// <summary>The token endpoint's answer, as Docker reads it (distribution's token specification).</summary>
public sealed record RegistryTokenResponse(
    [property: JsonPropertyName("token")] string Token,
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    [property: JsonPropertyName("issued_at")] string IssuedAt);

/// <summary>
/// <c>GET /v2/token?service=…&amp;scope=…</c>: the hub as the registry's token server. Docker calls it with the identity's
/// Basic <c>NAME:TOKEN</c> after the registry's 401 challenge names this realm; the token grants only what
/// <see cref="RegistryAccess"/> allows the caller. Anonymous callers get a 401 and no token.
/// </summary>
public static class RegistryTokenEndpoints
{
    public static void MapRegistryTokenEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/v2/token", Issue).RequireAuthorization("authenticated");

    private static IResult Issue(HttpContext http, RegistryTokenIssuer issuer)
    {
        var service = http.Request.Query["service"].ToString();
        if (service.Length > 0 && service != issuer.Options.Service)
            return Results.BadRequest(new ApiError($"this hub issues tokens for the service '{issuer.Options.Service}', not '{service}'"));
        var requested = new List<RegistryScope>();
        // Docker repeats scope; OAuth clients may put several in one, separated by spaces.
        foreach (var value in http.Request.Query["scope"])
            foreach (var text in (value ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!RegistryScope.TryParse(text, out var scope))
                    return Results.BadRequest(new ApiError($"'{text}' is not a scope: expected TYPE:NAME:ACTION[,ACTION…]"));
                requested.Add(scope);
            }

        var caller = http.User.Caller();
        // Less than was asked is not an error (the specification's rule): the registry refuses what the token lacks.
        var token = issuer.Issue(caller.Name, RegistryAccess.Grant(caller, requested));
        http.Response.Headers.CacheControl = "no-store";
        return Results.Json(new RegistryTokenResponse(token.Token, token.Token, (int)(token.ExpiresAt - token.IssuedAt).TotalSeconds,
            token.IssuedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)));
    }
}
