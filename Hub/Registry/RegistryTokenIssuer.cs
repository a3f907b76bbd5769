using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace HealthTrain.Hub.Registry;

/// <summary>
/// Settings of the hub as the registry's token server, section <c>Hub:RegistryToken</c>. Service and Issuer must equal
/// <c>auth: token: service</c> and <c>issuer</c> in the registry's config, Realm its <c>realm</c>.
/// </summary>
public sealed class RegistryTokenOptions
{
    public const string Section = "Hub:RegistryToken";

    /// <summary>The registry's service name: the tokens' audience.</summary>
    public string Service { get; set; } = "healthtrain-registry";

    /// <summary>The tokens' issuer, which the registry trusts.</summary>
    public string Issuer { get; set; } = "healthtrain-hub";

    /// <summary>
    /// The token endpoint's public URL, announced in the gateway's own challenges. When not set, the URL the
    /// caller used to reach the hub (scheme, host, <c>/v2/token</c>); set it when a proxy in front of the hub changes that.
    /// </summary>
    public string? Realm { get; set; }

    /// <summary>How long an issued token is valid.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>
/// One entry of a token's <c>access</c> claim, and one <c>scope</c> of a token request
/// (<c>repository:alice/stats:pull,push</c>, <c>registry:catalog:*</c>).
/// </summary>
public sealed record RegistryScope(
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("actions")] IReadOnlyList<string> Actions)
{
    /// <summary>
    /// Parses <c>TYPE:NAME:ACTION[,ACTION…]</c>. The name may itself hold colons (a registry host with a port),
    /// so the type ends at the first colon and the actions start after the last.
    /// </summary>
    public static bool TryParse(string text, out RegistryScope scope)
    {
        scope = null!;
        var first = text.IndexOf(':');
        var last = text.LastIndexOf(':');
        if (first <= 0 || last <= first + 1 || last == text.Length - 1) return false;
        var actions = text[(last + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (actions.Length == 0) return false;
        scope = new RegistryScope(text[..first], text[(first + 1)..last], actions.Distinct(StringComparer.Ordinal).ToArray());
        return true;
    }

    public override string ToString() => $"{Type}:{Name}:{string.Join(',', Actions)}";
}

/// <summary>The claim set of a registry token (distribution's token format).</summary>
public sealed record RegistryTokenClaims(
    [property: JsonPropertyName("iss")] string Issuer,
    [property: JsonPropertyName("sub")] string Subject,
    [property: JsonPropertyName("aud")] string Audience,
    [property: JsonPropertyName("exp")] long ExpiresAt,
    [property: JsonPropertyName("nbf")] long NotBefore,
    [property: JsonPropertyName("iat")] long IssuedAt,
    [property: JsonPropertyName("jti")] string Id,
    [property: JsonPropertyName("access")] IReadOnlyList<RegistryScope> Access);

/// <summary>A signed token and what it grants.</summary>
public sealed record IssuedRegistryToken(string Token, DateTimeOffset IssuedAt, DateTimeOffset ExpiresAt, IReadOnlyList<RegistryScope> Access);

/// <summary>
/// The hub as the registry's token server: signs short-lived ES256 JWTs that the CNCF distribution registry verifies
/// itself (<c>auth: token:</c>), with a P-256 key kept in the hub's data folder next to a self-signed certificate
/// for it, which is the registry's <c>rootcertbundle</c>.
/// </summary>
/// <remarks>
/// distribution 2.8 finds the signing key from the token header: <c>x5c</c> (a chain verified up to the bundle),
/// else <c>jwk</c>, else <c>kid</c>, looked up among the bundle's certificates' public keys by their libtrust key ID.
/// The hub sends <c>kid</c> only, so the registry trusts exactly the keys in the bundle, whatever the certificate's dates.
/// </remarks>
public sealed class RegistryTokenIssuer : IDisposable
{
    public const string KeyFileName = "registry-token-key.pem";
    public const string CertificateFileName = "registry-token.crt";

    /// <summary>The subject of the tokens the hub mints for itself; never an identity name (those hold no '/').</summary>
    public const string HubSubject = "hub/registry-client";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private static readonly JsonSerializerOptions Json = new();

    private readonly ECDsa _key;
    private readonly TimeProvider _time;
    private readonly string _encodedHeader;

    public RegistryTokenOptions Options { get; }

    /// <summary>The libtrust key ID of the signing key: the JWT header's <c>kid</c>.</summary>
    public string KeyId { get; }

    /// <summary>Where the certificate for the signing key was written, when it was (the registry's <c>rootcertbundle</c>).</summary>
    public string? CertificatePath { get; private init; }

    /// <summary>A signer over an existing P-256 key; the issuer owns the key.</summary>
    public RegistryTokenIssuer(ECDsa key, RegistryTokenOptions options, TimeProvider? time = null)
    {
        if (key.KeySize != 256 || key.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            throw new ArgumentException("registry tokens are ES256: the key must be P-256", nameof(key));
        _key = key;
        _time = time ?? TimeProvider.System;
        Options = options;
        KeyId = LibtrustKeyId(key.ExportSubjectPublicKeyInfo());
        _encodedHeader = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string>
        {
            ["alg"] = "ES256",
            ["typ"] = "JWT",
            ["kid"] = KeyId,
        }));
    }

    /// <summary>
    /// The libtrust fingerprint distribution 2.8 uses as key ID: SHA-256 of the SubjectPublicKeyInfo DER, the first
    /// 240 bits in unpadded base32, in twelve colon-separated groups of four.
    /// </summary>
    public static string LibtrustKeyId(ReadOnlySpan<byte> subjectPublicKeyInfo)
    {
        var encoded = Base32(SHA256.HashData(subjectPublicKeyInfo)[..30]);
        return string.Join(':', Enumerable.Range(0, encoded.Length / 4).Select(i => encoded.Substring(i * 4, 4)));
    }

    /// <summary>
    /// Loads the PKCS#8 PEM key in <paramref name="dataDir"/>, or creates a P-256 key there with mode 0600, and writes a
    /// self-signed certificate for it beside it unless one for this key is already there. Refuses a key file that
    /// group or others may access: whoever holds the key can mint any registry access.
    /// </summary>
    public static RegistryTokenIssuer LoadOrCreate(string dataDir, RegistryTokenOptions options, TimeProvider? time = null)
    {
        var keyPath = Path.GetFullPath(Path.Combine(dataDir, KeyFileName));
        var certPath = Path.GetFullPath(Path.Combine(dataDir, CertificateFileName));
        var key = LoadOrCreateKey(keyPath);
        try
        {
            EnsureCertificate(key, certPath, options, time ?? TimeProvider.System);
            return new RegistryTokenIssuer(key, options, time) { CertificatePath = certPath };
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }

    /// <summary>Signs a token for <paramref name="subject"/> granting exactly <paramref name="access"/>.</summary>
    public IssuedRegistryToken Issue(string subject, IReadOnlyList<RegistryScope> access, TimeSpan? lifetime = null)
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(_time.GetUtcNow().ToUnixTimeSeconds());
        var expires = now + (lifetime ?? Options.Lifetime);
        var claims = new RegistryTokenClaims(Options.Issuer, subject, Options.Service, expires.ToUnixTimeSeconds(),
            now.ToUnixTimeSeconds(), now.ToUnixTimeSeconds(), Base64Url(RandomNumberGenerator.GetBytes(16)), access);
        var signingInput = _encodedHeader + "." + Base64Url(JsonSerializer.SerializeToUtf8Bytes(claims, Json));
        // JWS ES256 signatures are R || S, 32 bytes each, which is what libtrust checks.
        byte[] signature;
        lock (_key) signature = _key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        return new IssuedRegistryToken(signingInput + "." + Base64Url(signature), now, expires, access);
    }

    /// <summary>
    /// Checks a token as the registry does (ES256 signature by this key, issuer, audience, not expired, not before
    /// its time) and returns its claims; null with the reason when it is not one this hub issued or no longer valid.
    /// </summary>
    public RegistryTokenClaims? Validate(string token, out string? error)
    {
        error = null;
        var parts = token.Split('.');
        if (parts.Length != 3) return Refuse("not a JWT", out error);
        try
        {
            using (var header = JsonDocument.Parse(FromBase64Url(parts[0])))
            {
                if (header.RootElement.ValueKind != JsonValueKind.Object
                    || !header.RootElement.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String || alg.GetString() != "ES256")
                    return Refuse("not an ES256 token", out error);
                if (header.RootElement.TryGetProperty("kid", out var kid) && (kid.ValueKind != JsonValueKind.String || kid.GetString() != KeyId))
                    return Refuse("signed by another key", out error);
            }
            var signature = FromBase64Url(parts[2]);
            bool verified;
            lock (_key)
                verified = _key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature, HashAlgorithmName.SHA256,
                    DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            if (!verified) return Refuse("bad signature", out error);
            var claims = JsonSerializer.Deserialize<RegistryTokenClaims>(FromBase64Url(parts[1]), Json);
            if (claims is null) return Refuse("no claims", out error);
            if (claims.Issuer != Options.Issuer) return Refuse("issued by someone else", out error);
            if (claims.Audience != Options.Service) return Refuse("meant for another service", out error);
            var now = _time.GetUtcNow().ToUnixTimeSeconds();
            if (now >= claims.ExpiresAt) return Refuse("expired", out error);
            if (now < claims.NotBefore) return Refuse("not valid yet", out error);
            return claims with { Access = claims.Access ?? [] };
        }
        catch (Exception e) when (e is FormatException or JsonException or CryptographicException)
        {
            return Refuse("malformed token", out error);
        }
    }

    public void Dispose() => _key.Dispose();

    private static RegistryTokenClaims? Refuse(string reason, out string error)
    {
        error = reason;
        return null;
    }

    private static ECDsa LoadOrCreateKey(string path)
    {
        if (!File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            try
            {
                // CreateNew with the mode set at creation: the key is never readable by others, not even for a moment.
                using (var file = new FileStream(path, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly }))
                using (var writer = new StreamWriter(file))
                    writer.Write(key.ExportPkcs8PrivateKeyPem());
                return key;
            }
            catch (IOException) when (File.Exists(path))
            {
                key.Dispose(); // another process created it first: use theirs
            }
        }
        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupOrOther) != 0)
            throw new InvalidOperationException($"the registry token key {path} is accessible by group or others (mode {Convert.ToString((int)mode, 8)}); chmod 600 it");
        var loaded = ECDsa.Create();
        try
        {
            loaded.ImportFromPem(File.ReadAllText(path));
            if (loaded.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
                throw new InvalidOperationException($"the registry token key {path} is not a P-256 key");
            return loaded;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            loaded.Dispose();
            throw new InvalidOperationException($"the registry token key {path} is not a PEM ECDSA private key: {e.Message}", e);
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    /// <summary>Keeps a certificate for <paramref name="key"/> at <paramref name="path"/>: the existing one if it is for this key and not near its end.</summary>
    private static void EnsureCertificate(ECDsa key, string path, RegistryTokenOptions options, TimeProvider time)
    {
        var now = time.GetUtcNow();
        var publicKey = key.ExportSubjectPublicKeyInfo();
        if (File.Exists(path))
        {
            try
            {
                using var existing = X509Certificate2.CreateFromPem(File.ReadAllText(path));
                if (existing.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(publicKey) && existing.NotAfter > now.AddDays(30).UtcDateTime)
                    return;
            }
            catch (CryptographicException)
            {
                // Not a certificate: replace it.
            }
        }
        var request = new CertificateRequest(new X500DistinguishedName($"CN={options.Issuer} registry token signer"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(10));
        var temp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(temp, certificate.ExportCertificatePem() + "\n");
        File.Move(temp, path, overwrite: true);
    }

    private static string Base32(ReadOnlySpan<byte> data)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var text = new StringBuilder((data.Length * 8 + 4) / 5);
        int buffer = 0, bits = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                text.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
            buffer &= (1 << bits) - 1;
        }
        if (bits > 0) text.Append(alphabet[(buffer << (5 - bits)) & 31]);
        return text.ToString();
    }

    internal static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    internal static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s + new string('=', (4 - s.Length % 4) % 4));
    }
}
