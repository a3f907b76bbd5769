using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Registry;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Tests.Registry;

/// <summary>A clock that stands still where the test puts it.</summary>
internal sealed class TestClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;
    public override DateTimeOffset GetUtcNow() => Now;
}

public sealed class RegistryTokenIssuerTests : IDisposable
{
    // A throwaway key for these tests only, and its libtrust key ID as computed independently
    // (openssl pkey -pubout -outform DER | SHA-256, first 30 bytes, base32, groups of four).
    private const string FixedKeyPem = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgE73VxocNvMQRqMFU
        QZim1o5USqafVs9i7eXlD3DigUKhRANCAAQCGiNagERMb3FggPf7gQOLcyuQNuED
        y+c1A2bPnmlbXRgxSU+Eyum00cNWYta/bHiCdJgeEPl/mSmWKm4a87Ko
        -----END PRIVATE KEY-----
        """;
    private const string FixedKeyId = "RC37:OA4T:6BCJ:6HAY:I7PC:GH7Z:AQQI:CALN:FRAY:AU3E:XRMV:4OEW";

    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TestClock _clock = new(Now);
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-registry-token-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ECDsa FixedKey()
    {
        var key = ECDsa.Create();
        key.ImportFromPem(FixedKeyPem);
        return key;
    }

    private RegistryTokenIssuer Issuer(ECDsa? key = null, RegistryTokenOptions? options = null) =>
        new(key ?? FixedKey(), options ?? new RegistryTokenOptions(), _clock);

    private static JsonElement Part(string token, int index) =>
        JsonDocument.Parse(Convert.FromBase64String(Pad(token.Split('.')[index].Replace('-', '+').Replace('_', '/')))).RootElement;

    private static string Pad(string s) => s + new string('=', (4 - s.Length % 4) % 4);

    private static string Encode(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [Fact]
    public void The_key_id_is_the_libtrust_fingerprint_of_the_public_key()
    {
        using var key = FixedKey();
        Assert.Equal(FixedKeyId, RegistryTokenIssuer.LibtrustKeyId(key.ExportSubjectPublicKeyInfo()));
        using var issuer = Issuer();
        Assert.Equal(FixedKeyId, issuer.KeyId);
    }

    [Fact]
    public void A_token_is_an_ES256_JWT_with_the_registry_claims()
    {
        using var issuer = Issuer();
        RegistryScope[] access = [new("repository", "alice/stats", ["pull", "push"])];
        var issued = issuer.Issue("alice", access);

        var header = Part(issued.Token, 0);
        Assert.Equal("ES256", header.GetProperty("alg").GetString());
        Assert.Equal("JWT", header.GetProperty("typ").GetString());
        Assert.Equal(FixedKeyId, header.GetProperty("kid").GetString());
        Assert.False(header.TryGetProperty("x5c", out _));

        var claims = Part(issued.Token, 1);
        Assert.Equal("healthtrain-hub", claims.GetProperty("iss").GetString());
        Assert.Equal("alice", claims.GetProperty("sub").GetString());
        // distribution 2.8 reads aud as a single string, never an array.
        Assert.Equal(JsonValueKind.String, claims.GetProperty("aud").ValueKind);
        Assert.Equal("healthtrain-registry", claims.GetProperty("aud").GetString());
        Assert.Equal(Now.ToUnixTimeSeconds(), claims.GetProperty("iat").GetInt64());
        Assert.Equal(Now.ToUnixTimeSeconds(), claims.GetProperty("nbf").GetInt64());
        Assert.Equal(Now.AddMinutes(5).ToUnixTimeSeconds(), claims.GetProperty("exp").GetInt64());
        Assert.False(string.IsNullOrEmpty(claims.GetProperty("jti").GetString()));
        var entry = Assert.Single(claims.GetProperty("access").EnumerateArray());
        Assert.Equal("repository", entry.GetProperty("type").GetString());
        Assert.Equal("alice/stats", entry.GetProperty("name").GetString());
        Assert.Equal(["pull", "push"], entry.GetProperty("actions").EnumerateArray().Select(a => a.GetString()));

        Assert.Equal(Now, issued.IssuedAt);
        Assert.Equal(Now.AddMinutes(5), issued.ExpiresAt);
        Assert.NotEqual(claims.GetProperty("jti").GetString(), Part(issuer.Issue("alice", access).Token, 1).GetProperty("jti").GetString());
    }

    [Fact]
    public void A_token_without_access_still_has_an_empty_access_list()
    {
        using var issuer = Issuer();
        Assert.Equal(0, Part(issuer.Issue("alice", []).Token, 1).GetProperty("access").GetArrayLength());
    }

    [Fact]
    public void The_signature_verifies_with_the_public_key_of_the_written_certificate()
    {
        using var issuer = RegistryTokenIssuer.LoadOrCreate(_dir, new RegistryTokenOptions(), _clock);
        var token = issuer.Issue("hospital-a", [new("repository", "alice/stats", ["pull"])]).Token;

        using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(issuer.CertificatePath!));
        using var publicKey = certificate.GetECDsaPublicKey()!;
        Assert.Equal(issuer.KeyId, RegistryTokenIssuer.LibtrustKeyId(publicKey.ExportSubjectPublicKeyInfo()));
        var parts = token.Split('.');
        var signature = Convert.FromBase64String(Pad(parts[2].Replace('-', '+').Replace('_', '/')));
        Assert.Equal(64, signature.Length); // R || S, as JWS (and libtrust) require, not DER
        Assert.True(publicKey.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature,
            HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        // Another payload under the same signature does not verify.
        var forged = Encode("""{"iss":"healthtrain-hub","sub":"hospital-a","aud":"healthtrain-registry","exp":9999999999,"nbf":0,"iat":0,"jti":"x","access":[{"type":"repository","name":"alice/stats","actions":["pull","push"]}]}""");
        Assert.False(publicKey.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + forged), signature,
            HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    [Fact]
    public void Validate_accepts_its_own_tokens_until_they_expire()
    {
        using var issuer = Issuer();
        var token = issuer.Issue("alice", [new("repository", "alice/stats", ["pull"])]).Token;
        var claims = issuer.Validate(token, out var error);
        Assert.Null(error);
        Assert.Equal("alice", claims!.Subject);
        Assert.Equal("repository:alice/stats:pull", Assert.Single(claims.Access).ToString());

        _clock.Now = Now.AddMinutes(5).AddSeconds(-1);
        Assert.NotNull(issuer.Validate(token, out _));
        _clock.Now = Now.AddMinutes(5);
        Assert.Null(issuer.Validate(token, out error));
        Assert.Equal("expired", error);
        _clock.Now = Now.AddSeconds(-1);
        Assert.Null(issuer.Validate(token, out error));
        Assert.Equal("not valid yet", error);
    }

    [Fact]
    public void Validate_refuses_tokens_of_other_keys_services_and_forgers()
    {
        using var issuer = Issuer();
        var good = issuer.Issue("alice", []).Token;
        var parts = good.Split('.');

        using var other = Issuer(ECDsa.Create(ECCurve.NamedCurves.nistP256));
        Assert.Null(issuer.Validate(other.Issue("alice", []).Token, out var error));
        Assert.Equal("signed by another key", error);

        using var elsewhere = Issuer(options: new RegistryTokenOptions { Service = "some-other-registry" });
        Assert.Null(issuer.Validate(elsewhere.Issue("alice", []).Token, out error));
        Assert.Equal("meant for another service", error);

        using var impostor = Issuer(options: new RegistryTokenOptions { Issuer = "someone-else" });
        Assert.Null(issuer.Validate(impostor.Issue("alice", []).Token, out error));
        Assert.Equal("issued by someone else", error);

        var tampered = parts[0] + "." + Encode("""{"iss":"healthtrain-hub","sub":"operator","aud":"healthtrain-registry","exp":9999999999,"nbf":0,"iat":0,"jti":"x","access":[]}""") + "." + parts[2];
        Assert.Null(issuer.Validate(tampered, out error));
        Assert.Equal("bad signature", error);

        var unsigned = Encode("""{"alg":"none","typ":"JWT"}""") + "." + parts[1] + ".";
        Assert.Null(issuer.Validate(unsigned, out error));
        Assert.Equal("not an ES256 token", error);

        Assert.Null(issuer.Validate("ht_not-a-jwt", out error));
        Assert.Null(issuer.Validate("a.b.c", out error));
        Assert.Equal("malformed token", error);
    }

    [Fact]
    public void The_key_is_a_0600_pkcs8_pem_that_survives_a_restart()
    {
        string keyId, certificate;
        using (var first = RegistryTokenIssuer.LoadOrCreate(_dir, new RegistryTokenOptions(), _clock))
        {
            keyId = first.KeyId;
            certificate = File.ReadAllText(first.CertificatePath!);
        }
        var keyPath = Path.Combine(_dir, RegistryTokenIssuer.KeyFileName);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(keyPath));
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", certificate);

        using var again = RegistryTokenIssuer.LoadOrCreate(_dir, new RegistryTokenOptions(), _clock);
        Assert.Equal(keyId, again.KeyId);
        Assert.Equal(certificate, File.ReadAllText(again.CertificatePath!)); // same key: the registry's bundle stays valid

        using var cert = X509Certificate2.CreateFromPem(certificate);
        Assert.Equal(cert.Subject, cert.Issuer);
        Assert.True(cert.NotAfter > Now.AddYears(5).UtcDateTime);
    }

    [Fact]
    public void A_certificate_for_another_key_is_replaced()
    {
        File.WriteAllText(Path.Combine(_dir, RegistryTokenIssuer.KeyFileName), FixedKeyPem);
        File.SetUnixFileMode(Path.Combine(_dir, RegistryTokenIssuer.KeyFileName), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        using (var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256))
        using (var stale = new CertificateRequest("CN=stale", otherKey, HashAlgorithmName.SHA256).CreateSelfSigned(Now.AddDays(-1), Now.AddYears(1)))
            File.WriteAllText(Path.Combine(_dir, RegistryTokenIssuer.CertificateFileName), stale.ExportCertificatePem());

        using var issuer = RegistryTokenIssuer.LoadOrCreate(_dir, new RegistryTokenOptions(), _clock);
        Assert.Equal(FixedKeyId, issuer.KeyId);
        using var cert = X509Certificate2.CreateFromPem(File.ReadAllText(issuer.CertificatePath!));
        Assert.Equal(FixedKeyId, RegistryTokenIssuer.LibtrustKeyId(cert.PublicKey.ExportSubjectPublicKeyInfo()));
    }

    [Fact]
    public void A_key_others_can_read_is_refused()
    {
        var keyPath = Path.Combine(_dir, RegistryTokenIssuer.KeyFileName);
        File.WriteAllText(keyPath, FixedKeyPem);
        File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var e = Assert.Throws<InvalidOperationException>(() => RegistryTokenIssuer.LoadOrCreate(_dir, new RegistryTokenOptions(), _clock));
        Assert.Contains("chmod 600", e.Message);
    }
}

public class RegistryTokenGrantTests
{
    private static readonly Caller Alice = new(1, "alice", Roles.Researcher);
    private static readonly Caller Station = new(2, "hospital-a", Roles.Station);
    private static readonly Caller Operator = new(3, "operator", Roles.Operator);

    private static string[] Grant(Caller caller, params string[] scopes) =>
        RegistryAccess.Grant(caller, scopes.Select(s => RegistryScope.TryParse(s, out var scope) ? scope : throw new ArgumentException(s)))
            .Select(s => s.ToString()).ToArray();

    [Theory]
    [InlineData("repository:alice/stats:pull,push", "repository", "alice/stats", "pull,push")]
    [InlineData("registry:catalog:*", "registry", "catalog", "*")]
    [InlineData("repository:127.0.0.1:5000/alice/stats:pull", "repository", "127.0.0.1:5000/alice/stats", "pull")]
    [InlineData("repository:alice/stats:pull,pull,", "repository", "alice/stats", "pull")]
    public void Scopes_parse_as_type_name_and_actions(string text, string type, string name, string actions)
    {
        Assert.True(RegistryScope.TryParse(text, out var scope));
        Assert.Equal((type, name, actions), (scope.Type, scope.Name, string.Join(',', scope.Actions)));
    }

    [Theory]
    [InlineData("repository")]
    [InlineData("repository:alice/stats")]
    [InlineData("repository:alice/stats:")]
    [InlineData(":alice/stats:pull")]
    [InlineData("repository::pull")]
    public void Malformed_scopes_do_not_parse(string text) => Assert.False(RegistryScope.TryParse(text, out _));

    [Fact]
    public void Researchers_get_pull_and_push_in_their_own_namespace_only()
    {
        Assert.Equal(["repository:alice/stats:pull,push"], Grant(Alice, "repository:alice/stats:pull,push"));
        Assert.Equal(["repository:alice/deep/stats:pull"], Grant(Alice, "repository:alice/deep/stats:pull"));
        // Another namespace, a look-alike prefix, and the catalog are trimmed away entirely.
        Assert.Empty(Grant(Alice, "repository:bob/stats:pull,push", "repository:alicex/stats:pull", "registry:catalog:*"));
        // Delete is not theirs, and * means what they may do.
        Assert.Equal(["repository:alice/stats:pull"], Grant(Alice, "repository:alice/stats:pull,delete"));
        Assert.Equal(["repository:alice/stats:pull,push"], Grant(Alice, "repository:alice/stats:*"));
    }

    [Fact]
    public void A_mixed_request_is_trimmed_to_the_allowed_part()
    {
        // One entry per resource, its actions in the order asked.
        Assert.Equal(["repository:alice/stats:push,pull"],
            Grant(Alice, "repository:alice/stats:push", "repository:bob/base:pull", "repository:alice/stats:pull"));
    }

    [Fact]
    public void Stations_get_pull_only()
    {
        Assert.Equal(["repository:alice/stats:pull"], Grant(Station, "repository:alice/stats:pull,push"));
        Assert.Equal(["repository:bob/other:pull"], Grant(Station, "repository:bob/other:*"));
        Assert.Empty(Grant(Station, "repository:alice/stats:push,delete", "registry:catalog:*"));
    }

    [Fact]
    public void Operators_get_everything_including_the_catalog()
    {
        Assert.Equal(["registry:catalog:*"], Grant(Operator, "registry:catalog:*"));
        Assert.Equal(["repository:alice/stats:pull,push,delete"], Grant(Operator, "repository:alice/stats:pull,push,delete"));
        Assert.Equal(["repository:bob/stats:*"], Grant(Operator, "repository:bob/stats:*"));
    }

    [Theory]
    [InlineData("repository:alice/../bob/stats:pull")]
    [InlineData("repository:alice/Stats:pull")]
    [InlineData("repository:127.0.0.1:5000/alice/stats:pull")]
    [InlineData("plugin:alice/stats:pull")]
    [InlineData("registry:other:*")]
    public void Invalid_names_and_unknown_resources_get_nothing(string scope)
    {
        Assert.Empty(Grant(Operator, scope));
        Assert.Empty(Grant(Alice, scope));
        Assert.Empty(Grant(Station, scope));
    }

    [Fact]
    public void The_gateway_and_the_token_server_agree_on_deletes()
    {
        Assert.NotNull(RegistryAccess.Decide(Alice, "DELETE", "/v2/alice/stats/manifests/sha256:abc"));
        Assert.Empty(Grant(Alice, "repository:alice/stats:delete"));
        Assert.Null(RegistryAccess.Decide(Operator, "DELETE", "/v2/alice/stats/manifests/sha256:abc"));
    }
}
