using System.Security.Cryptography;
using System.Text;
using Dapper;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Identity;

/// <summary>An authenticated caller of the hub.</summary>
public sealed record Caller(long Id, string Name, string Role);

/// <summary>Identities and their tokens. Tokens are random, shown once, and stored only as SHA-256 hashes.</summary>
public sealed class Identities(HubDatabase db)
{
    /// <summary>A new random token; the prefix makes leaked tokens easy to spot in logs and scanners.</summary>
    public static string NewToken() => "ht_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public Caller? FindByToken(string token)
    {
        using var c = db.Open();
        return c.QuerySingleOrDefault<Caller>(
            "SELECT id AS Id, name AS Name, role AS Role FROM identities WHERE token_hash = @hash", new { hash = Hash(token) });
    }

    /// <summary>The identity whose token hashes to <paramref name="tokenHash"/>: a console session is still valid only while this finds its operator.</summary>
    public Caller? FindByTokenHash(string tokenHash)
    {
        using var c = db.Open();
        return c.QuerySingleOrDefault<Caller>(
            "SELECT id AS Id, name AS Name, role AS Role FROM identities WHERE token_hash = @tokenHash", new { tokenHash });
    }

    public Caller? FindByName(string name)
    {
        using var c = db.Open();
        return c.QuerySingleOrDefault<Caller>("SELECT id AS Id, name AS Name, role AS Role FROM identities WHERE name = @name", new { name });
    }

    /// <summary>Creates an identity with a fresh token (or the given one, for bootstrapping the operator).</summary>
    public IdentityCreated Create(string name, string role, string? token = null)
    {
        token ??= NewToken();
        using var c = db.Open();
        c.Execute("INSERT INTO identities (name, role, token_hash, created_at) VALUES (@name, @role, @hash, @now)",
            new { name, role, hash = Hash(token), now = DateTimeOffset.UtcNow });
        return new IdentityCreated(name, role, token);
    }

    /// <summary>Replaces an identity's token, invalidating the old one.</summary>
    public void SetToken(string name, string token)
    {
        using var c = db.Open();
        c.Execute("UPDATE identities SET token_hash = @hash WHERE name = @name", new { name, hash = Hash(token) });
    }

    public IReadOnlyList<IdentityInfo> List()
    {
        using var c = db.Open();
        return c.Query<IdentityInfo>(
            "SELECT name AS Name, role AS Role, created_at AS CreatedAt, last_seen_at AS LastSeenAt FROM identities ORDER BY name").AsList();
    }

    public void Touch(long id)
    {
        using var c = db.Open();
        c.Execute("UPDATE identities SET last_seen_at = @now WHERE id = @id", new { id, now = DateTimeOffset.UtcNow });
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
