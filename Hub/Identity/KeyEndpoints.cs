using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Hub.Identity;

/// <summary>Signing keys: researchers register and revoke theirs; anyone signed in may read the hub's own public keys to pin them.</summary>
public static class KeyEndpoints
{
    public static void MapKeyEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/keys").RequireAuthorization(Roles.Researcher);
        group.MapGet("", (HttpContext http, IdentityKeys keys) => keys.List(http.User.Caller()));
        group.MapPost("", (KeyRegistration registration, HttpContext http, IdentityKeys keys) =>
        {
            try
            {
                var (key, created) = keys.Register(http.User.Caller(), registration.PublicKeyPem ?? "");
                return created ? Results.Created($"/api/keys/{key.KeyId}", key) : Results.Ok(key);
            }
            catch (SigningKeyException e)
            {
                return Results.BadRequest(new ApiError($"not an ECDSA P-256 public key in PEM: {e.Message}"));
            }
            catch (InvalidOperationException e)
            {
                return Results.Conflict(new ApiError(e.Message));
            }
        });
        group.MapDelete("/{keyId}", (string keyId, HttpContext http, IdentityKeys keys) =>
            keys.Revoke(http.User.Caller(), keyId) is { } key ? Results.Ok(key) : Results.NotFound(new ApiError($"no key {keyId} of yours")));

        app.MapGet("/api/hub/keys", (PublicationKey publication, LedgerSigner ledger) =>
            new HubKeys(publication.Key.KeyId, publication.Key.PublicKey.Pem, ledger.KeyId, ledger.PublicKeyPem)).RequireAuthorization();
    }
}
