using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Hub;
using HealthTrain.Hub.Registry;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// The hub as the registry's token server, against the real distribution registry: tokens grant only what the
/// caller's role allows, and the registry itself — reached directly on its loopback port, bypassing the gateway —
/// refuses anything the hub did not sign, or signed for less, or signed too long ago.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class RegistryTokenTests(FederationFixture f) : IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    public void Dispose() => _http.Dispose();

    private Uri Registry(string path) => new(f.Federation.RegistryUrl, path);
    private Uri Hub(string path) => new(f.Federation.HubUrl, path);
    private string Realm => $"realm=\"{f.Federation.HubUrl.ToString().TrimEnd('/')}/v2/token\"";

    [Fact]
    public async Task Anonymous_callers_get_no_token_and_no_registry()
    {
        using var token = await RequestTokenAsync(null, null, "repository:alice/misbehaving-train:pull");
        Assert.Equal(HttpStatusCode.Unauthorized, token.StatusCode);
        using (var body = JsonDocument.Parse(await token.Content.ReadAsStringAsync()))
        {
            Assert.False(body.RootElement.TryGetProperty("token", out _));
            Assert.False(body.RootElement.TryGetProperty("access_token", out _));
        }

        using var wrong = await RequestTokenAsync("alice", "ht_not-alices-token", "repository:alice/misbehaving-train:pull");
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        // A real token under another name is not the caller's either.
        using var misnamed = await RequestTokenAsync("mallory", f.Alice.Connection.Token, "repository:alice/misbehaving-train:pull");
        Assert.Equal(HttpStatusCode.Unauthorized, misnamed.StatusCode);

        // The gateway refuses anonymous callers itself, with the challenge that sends Docker to the hub's token endpoint...
        using var gateway = await _http.GetAsync(Hub("/v2/"));
        Assert.Equal(HttpStatusCode.Unauthorized, gateway.StatusCode);
        var challenge = gateway.Headers.WwwAuthenticate.ToString();
        Assert.StartsWith("Bearer ", challenge);
        Assert.Contains(Realm, challenge);
        Assert.Contains("service=\"healthtrain-registry\"", challenge);

        // ...and the registry itself challenges the same way, naming the hub's public URL, never its own.
        using var registry = await _http.GetAsync(Registry("/v2/"));
        Assert.Equal(HttpStatusCode.Unauthorized, registry.StatusCode);
        Assert.Contains(Realm, registry.Headers.WwwAuthenticate.ToString());
        using var manifest = await _http.GetAsync(Registry("/v2/alice/misbehaving-train/tags/list"));
        Assert.Equal(HttpStatusCode.Unauthorized, manifest.StatusCode);
    }

    [Fact]
    public async Task A_researcher_token_pushes_in_their_own_namespace_and_is_trimmed_elsewhere()
    {
        var jwt = await TokenAsync("alice", f.Alice.Connection.Token, "repository:alice/token-test:pull,push", "repository:bob/stats:pull,push", "registry:catalog:*");
        Assert.Equal("alice", Claims(jwt).GetProperty("sub").GetString());
        Assert.Equal(["repository:alice/token-test:pull,push"], Access(jwt));

        // Straight to the registry, and through the gateway: the registry accepts the hub's token for alice's repository.
        var content = Encoding.UTF8.GetBytes("token test " + Guid.NewGuid());
        Assert.Equal(HttpStatusCode.Created, await UploadBlobAsync(f.Federation.RegistryUrl, "alice/token-test", jwt, content));
        Assert.Equal(HttpStatusCode.Created, await UploadBlobAsync(f.Federation.HubUrl, "alice/token-test", jwt, Encoding.UTF8.GetBytes("via gateway " + Guid.NewGuid())));
        using (var head = new HttpRequestMessage(HttpMethod.Head, Registry($"/v2/alice/token-test/blobs/sha256:{Convert.ToHexStringLower(SHA256.HashData(content))}")))
        {
            head.Headers.Authorization = new AuthenticationHeaderValue("Bearer", jwt);
            Assert.Equal(HttpStatusCode.OK, (await _http.SendAsync(head)).StatusCode);
        }

        // Another researcher's namespace: the token grants nothing there, so the registry itself refuses...
        var elsewhere = await TokenAsync("alice", f.Alice.Connection.Token, "repository:bob/stats:pull,push");
        Assert.Empty(Access(elsewhere));
        var refused = await SendAsync(HttpMethod.Post, Registry("/v2/bob/stats/blobs/uploads/"), elsewhere);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
        Assert.Contains("error=\"insufficient_scope\"", refused.Challenge);
        Assert.Contains(Realm, refused.Challenge);
        // ...and so does the gateway, by its own independent check.
        var denied = await SendAsync(HttpMethod.Post, Hub("/v2/bob/stats/blobs/uploads/"), elsewhere);
        Assert.Equal(HttpStatusCode.Forbidden, denied.Status);
        Assert.Contains("DENIED", denied.Body);
        // Nor does alice's token for her own repository reach the catalog.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, Registry("/v2/_catalog"), jwt)).Status);
    }

    [Fact]
    public async Task A_station_token_pulls_and_cannot_push()
    {
        // Docker's own token flow: push through the gateway with alice's Basic credentials.
        var digest = await f.Federation.Publisher(f.Docker, f.Alice).PushImageAsync(f.Misbehaving.Reference, FederationFixture.MisbehavingRepository, "token-test", "alice");
        var station = await f.Federation.Operator.CreateIdentityAsync("token-station-" + Guid.NewGuid().ToString("N")[..6], Roles.Station);

        var jwt = await TokenAsync(station.Name, station.Token, $"repository:{FederationFixture.MisbehavingRepository}:pull,push");
        Assert.Equal([$"repository:{FederationFixture.MisbehavingRepository}:pull"], Access(jwt));

        using (var pull = new HttpRequestMessage(HttpMethod.Get, Registry($"/v2/{FederationFixture.MisbehavingRepository}/manifests/{digest}")))
        {
            pull.Headers.Authorization = new AuthenticationHeaderValue("Bearer", jwt);
            pull.Headers.Accept.ParseAdd("application/vnd.docker.distribution.manifest.v2+json");
            pull.Headers.Accept.ParseAdd("application/vnd.oci.image.manifest.v1+json");
            using var response = await _http.SendAsync(pull);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(digest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(await response.Content.ReadAsByteArrayAsync())));
        }
        var push = await SendAsync(HttpMethod.Post, Registry($"/v2/{FederationFixture.MisbehavingRepository}/blobs/uploads/"), jwt);
        Assert.Equal(HttpStatusCode.Unauthorized, push.Status);
        Assert.Contains("error=\"insufficient_scope\"", push.Challenge);
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(HttpMethod.Post, Hub($"/v2/{FederationFixture.MisbehavingRepository}/blobs/uploads/"), jwt)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Delete, Registry($"/v2/{FederationFixture.MisbehavingRepository}/manifests/{digest}"), jwt)).Status);
    }

    [Fact]
    public async Task An_operator_token_reads_the_catalog()
    {
        var jwt = await TokenAsync("operator", f.Federation.OperatorToken, "registry:catalog:*");
        Assert.Equal(["registry:catalog:*"], Access(jwt));
        var catalog = await SendAsync(HttpMethod.Get, Registry("/v2/_catalog"), jwt);
        Assert.Equal(HttpStatusCode.OK, catalog.Status);
        Assert.Contains("\"repositories\"", catalog.Body);
    }

    [Fact]
    public async Task Forged_tampered_and_expired_tokens_are_refused_by_the_registry_itself()
    {
        var digest = await f.Federation.Publisher(f.Docker, f.Alice).PushImageAsync(f.Misbehaving.Reference, FederationFixture.MisbehavingRepository, "token-forgery", "alice");
        var manifest = Registry($"/v2/{FederationFixture.MisbehavingRepository}/manifests/{digest}");
        RegistryScope[] pull = [new("repository", FederationFixture.MisbehavingRepository, ["pull"])];
        var options = new RegistryTokenOptions { Service = LocalFederation.RegistryService, Issuer = LocalFederation.TokenIssuer };

        // The hub's own key, current clock: accepted (the control for everything below).
        using (var hubKey = new RegistryTokenIssuer(HubKey(), options))
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, manifest, hubKey.Issue("alice", pull).Token)).Status);

        // The hub's own key, but expired ten minutes ago (well past distribution's 60 s leeway).
        using (var past = new RegistryTokenIssuer(HubKey(), options, new FixedClock(DateTimeOffset.UtcNow.AddMinutes(-15))))
        {
            var expired = past.Issue("alice", pull).Token;
            var refused = await SendAsync(HttpMethod.Get, manifest, expired);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.Status);
            Assert.Contains("error=\"invalid_token\"", refused.Challenge);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, Hub(manifest.PathAndQuery), expired)).Status);
        }

        // Another key claiming the hub's key ID.
        var hubKeyId = Header(await TokenAsync("alice", f.Alice.Connection.Token)).GetProperty("kid").GetString()!;
        using var forger = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var claims = ClaimsJson("alice", [new("repository", FederationFixture.MisbehavingRepository, ["pull", "push", "delete"])]);
        var forged = Sign(forger, $$"""{"alg":"ES256","typ":"JWT","kid":"{{hubKeyId}}"}""", claims);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, manifest, forged)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, Hub(manifest.PathAndQuery), forged)).Status);

        // Another key with its own self-signed certificate in x5c: not chained to the registry's root bundle.
        using (var certificate = new CertificateRequest("CN=healthtrain-hub registry token signer", forger, HashAlgorithmName.SHA256)
                   .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1)))
        {
            var withChain = Sign(forger, $$"""{"alg":"ES256","typ":"JWT","x5c":["{{Convert.ToBase64String(certificate.RawData)}}"]}""", claims);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, manifest, withChain)).Status);
        }

        // Unsigned.
        var unsigned = B64(Encoding.UTF8.GetBytes("""{"alg":"none","typ":"JWT"}""")) + "." + B64(Encoding.UTF8.GetBytes(claims)) + ".";
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, manifest, unsigned)).Status);

        // A real station token whose claims were edited to allow push: the signature no longer matches.
        var station = await f.Federation.Operator.CreateIdentityAsync("forger-" + Guid.NewGuid().ToString("N")[..6], Roles.Station);
        var real = await TokenAsync(station.Name, station.Token, $"repository:{FederationFixture.MisbehavingRepository}:pull");
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, manifest, real)).Status);
        var parts = real.Split('.');
        var upgraded = Claims(real).GetRawText().Replace("[\"pull\"]", "[\"pull\",\"push\"]");
        var tampered = parts[0] + "." + B64(Encoding.UTF8.GetBytes(upgraded)) + "." + parts[2];
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Post, Registry($"/v2/{FederationFixture.MisbehavingRepository}/blobs/uploads/"), tampered)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(HttpMethod.Get, manifest, tampered)).Status);
    }

    private ECDsa HubKey()
    {
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(Path.Combine(f.Root, "hub", RegistryTokenIssuer.KeyFileName)));
        return key;
    }

    private async Task<HttpResponseMessage> RequestTokenAsync(string? user, string? secret, params string[] scopes)
    {
        var query = "service=healthtrain-registry" + string.Concat(scopes.Select(s => "&scope=" + Uri.EscapeDataString(s)));
        using var request = new HttpRequestMessage(HttpMethod.Get, Hub("/v2/token?" + query));
        if (user is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{secret}")));
        return await _http.SendAsync(request);
    }

    private async Task<string> TokenAsync(string user, string secret, params string[] scopes)
    {
        using var response = await RequestTokenAsync(user, secret, scopes);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var token = body.RootElement.GetProperty("token").GetString()!;
        Assert.Equal(token, body.RootElement.GetProperty("access_token").GetString());
        Assert.Equal(300, body.RootElement.GetProperty("expires_in").GetInt32());
        var claims = Claims(token);
        Assert.Equal(300, claims.GetProperty("exp").GetInt64() - claims.GetProperty("iat").GetInt64());
        Assert.Equal("healthtrain-registry", claims.GetProperty("aud").GetString());
        return token;
    }

    private async Task<(HttpStatusCode Status, string Challenge, string Body)> SendAsync(HttpMethod method, Uri uri, string jwt)
    {
        using var request = new HttpRequestMessage(method, uri);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", jwt);
        using var response = await _http.SendAsync(request);
        return (response.StatusCode, response.Headers.WwwAuthenticate.ToString(), await response.Content.ReadAsStringAsync());
    }

    /// <summary>A blob upload as Docker does it: POST for a session, then PUT the content with its digest.</summary>
    private async Task<HttpStatusCode> UploadBlobAsync(Uri server, string repository, string jwt, byte[] content)
    {
        using var start = new HttpRequestMessage(HttpMethod.Post, new Uri(server, $"/v2/{repository}/blobs/uploads/"));
        start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", jwt);
        using var session = await _http.SendAsync(start);
        if (session.StatusCode != HttpStatusCode.Accepted) return session.StatusCode;
        var location = new Uri(server, session.Headers.Location!);
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
        using var put = new HttpRequestMessage(HttpMethod.Put, location.AbsoluteUri + (location.Query.Length > 0 ? "&" : "?") + "digest=" + Uri.EscapeDataString(digest))
        {
            Content = new ByteArrayContent(content) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } },
        };
        put.Headers.Authorization = new AuthenticationHeaderValue("Bearer", jwt);
        using var done = await _http.SendAsync(put);
        return done.StatusCode;
    }

    private static string ClaimsJson(string subject, RegistryScope[] access)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        return JsonSerializer.Serialize(new RegistryTokenClaims(LocalFederation.TokenIssuer, subject, LocalFederation.RegistryService,
            now + 300, now, now, Guid.NewGuid().ToString("N"), access));
    }

    private static string Sign(ECDsa key, string header, string claims)
    {
        var input = B64(Encoding.UTF8.GetBytes(header)) + "." + B64(Encoding.UTF8.GetBytes(claims));
        return input + "." + B64(key.SignData(Encoding.ASCII.GetBytes(input), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
    }

    private static string[] Access(string jwt) =>
        Claims(jwt).GetProperty("access").EnumerateArray().Select(a =>
            $"{a.GetProperty("type").GetString()}:{a.GetProperty("name").GetString()}:{string.Join(',', a.GetProperty("actions").EnumerateArray().Select(x => x.GetString()))}").ToArray();

    private static JsonElement Header(string jwt) => Decode(jwt.Split('.')[0]);
    private static JsonElement Claims(string jwt) => Decode(jwt.Split('.')[1]);

    private static JsonElement Decode(string part)
    {
        var s = part.Replace('-', '+').Replace('_', '/');
        return JsonDocument.Parse(Convert.FromBase64String(s + new string('=', (4 - s.Length % 4) % 4))).RootElement.Clone();
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}

/// <summary>The registry reads the hub's certificate once, at its start: a restarted hub must keep signing with the same key.</summary>
public sealed class RegistryTokenRestartTests
{
    [Fact]
    public async Task Tokens_from_a_restarted_hub_are_still_trusted_by_the_registry()
    {
        var root = Directory.CreateTempSubdirectory("ht-e2e-restart-").FullName;
        try
        {
            await using var federation = await LocalFederation.StartAsync(new FederationOptions(root));
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            async Task<HttpStatusCode> CatalogAsync()
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(federation.HubUrl, "/v2/token?service=healthtrain-registry&scope=registry:catalog:*"));
                request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("operator:" + federation.OperatorToken)));
                using var token = await http.SendAsync(request);
                token.EnsureSuccessStatusCode();
                var jwt = JsonDocument.Parse(await token.Content.ReadAsStringAsync()).RootElement.GetProperty("token").GetString();
                using var catalog = new HttpRequestMessage(HttpMethod.Get, new Uri(federation.RegistryUrl, "/v2/_catalog"));
                catalog.Headers.Authorization = new AuthenticationHeaderValue("Bearer", jwt);
                return (await http.SendAsync(catalog)).StatusCode;
            }

            var key = File.ReadAllText(Path.Combine(root, "hub", RegistryTokenIssuer.KeyFileName));
            Assert.Equal(HttpStatusCode.OK, await CatalogAsync());
            await federation.RestartHubAsync();
            Assert.Equal(key, File.ReadAllText(Path.Combine(root, "hub", RegistryTokenIssuer.KeyFileName)));
            Assert.Equal(HttpStatusCode.OK, await CatalogAsync());
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
