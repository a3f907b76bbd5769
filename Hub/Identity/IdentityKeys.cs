using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Trains.Protocol.Signing;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Hub.Identity;

/// <summary>
/// The public keys identities sign with. A researcher's train counts as signed by them only with a signature by one of
/// their registered, unrevoked keys; adding and revoking are ledger entries, so who could sign when stays checkable.
/// </summary>
public sealed class IdentityKeys(HubDatabase db, LedgerStore ledger)
{
    private const string Select = """
        SELECT k.key_id AS KeyId, i.name AS Owner, k.added_at AS AddedAt, k.revoked_at AS RevokedAt, k.public_key_pem AS PublicKeyPem
        FROM identity_keys k JOIN identities i ON i.id = k.identity_id
        """;

    /// <summary>Registers <paramref name="pem"/> for <paramref name="owner"/>; registering the same key again returns it unchanged.</summary>
    /// <exception cref="SigningKeyException">Not an ECDSA P-256 public key.</exception>
    /// <exception cref="InvalidOperationException">The key belongs to someone else, or was revoked.</exception>
    public (KeyInfo Key, bool Created) Register(Caller owner, string pem)
    {
        var key = VerificationKey.FromPem(pem);
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        if (c.QuerySingleOrDefault<KeyInfo>(Select + " WHERE k.key_id = @id", new { id = key.KeyId }, tx) is { } existing)
        {
            if (existing.Owner != owner.Name) throw new InvalidOperationException($"key {key.KeyId} is registered to another identity");
            if (existing.RevokedAt is not null) throw new InvalidOperationException($"key {key.KeyId} was revoked on {existing.RevokedAt:u}; make a new key");
            return (existing, false);
        }
        c.Execute("INSERT INTO identity_keys (key_id, identity_id, public_key_pem, added_at) VALUES (@id, @owner, @pem, @now)",
            new { id = key.KeyId, owner = owner.Id, pem = key.Pem, now = DateTimeOffset.UtcNow }, tx);
        ledger.Record(c, tx, LedgerKinds.KeyAdded, owner.Name, $"key/{key.KeyId}", new JsonObject { ["identity"] = owner.Name, ["algorithm"] = "ecdsa-p256" });
        var created = c.QuerySingle<KeyInfo>(Select + " WHERE k.key_id = @id", new { id = key.KeyId }, tx);
        tx.Commit();
        return (created, true);
    }

    /// <summary>Revokes a key of the caller's (operators: anyone's). Returns null when there is no such key the caller may revoke.</summary>
    public KeyInfo? Revoke(Caller caller, string keyId)
    {
        using var c = db.Open();
        using var tx = c.BeginTransaction();
        var key = c.QuerySingleOrDefault<KeyInfo>(Select + " WHERE k.key_id = @keyId AND (@all OR k.identity_id = @me)",
            new { keyId, all = caller.Role == Roles.Operator, me = caller.Id }, tx);
        if (key is null) return null;
        if (key.RevokedAt is not null) return key;
        c.Execute("UPDATE identity_keys SET revoked_at = @now WHERE key_id = @keyId", new { keyId, now = DateTimeOffset.UtcNow }, tx);
        ledger.Record(c, tx, LedgerKinds.KeyRevoked, caller.Name, $"key/{keyId}", new JsonObject { ["identity"] = key.Owner });
        var revoked = c.QuerySingle<KeyInfo>(Select + " WHERE k.key_id = @keyId", new { keyId }, tx);
        tx.Commit();
        return revoked;
    }

    /// <summary>The caller's keys (operators: everyone's), newest first.</summary>
    public IReadOnlyList<KeyInfo> List(Caller caller)
    {
        using var c = db.Open();
        return c.Query<KeyInfo>(Select + " WHERE @all OR k.identity_id = @me ORDER BY k.added_at DESC",
            new { all = caller.Role == Roles.Operator, me = caller.Id }).AsList();
    }

    /// <summary>The keys an identity may sign with now.</summary>
    public IReadOnlyList<VerificationKey> ActiveKeys(SqliteConnection c, string owner) =>
        c.Query<string>("SELECT k.public_key_pem FROM identity_keys k JOIN identities i ON i.id = k.identity_id WHERE i.name = @owner AND k.revoked_at IS NULL",
            new { owner }).Select(VerificationKey.FromPem).ToList();

    public IReadOnlyList<VerificationKey> ActiveKeys(string owner)
    {
        using var c = db.Open();
        return ActiveKeys(c, owner);
    }
}
