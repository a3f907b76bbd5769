using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.RegularExpressions;

namespace HealthTrain.Trains.Protocol.Signing;

/// <summary>HTTP Basic credentials for a registry or the hub's registry gateway (<c>NAME:TOKEN</c>).</summary>
public sealed record RegistryCredentials(string Name, string Token)
{
    internal AuthenticationHeaderValue Header => new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Name}:{Token}")));

    public override string ToString() => $"{Name}:***";
}

/// <summary>
/// Reads and writes cosign signatures in an OCI distribution registry (the CNCF registry itself, or the hub's
/// gateway in front of it) through the plain registry API: blobs by monolithic upload, the signature manifest
/// under <c>sha256-&lt;hex&gt;.sig</c> in the image's repository. The <see cref="HttpClient"/>'s
/// <see cref="HttpClient.BaseAddress"/> is the registry's root URL (requests go to <c>/v2/…</c> at its root); credentials, when given, are sent as HTTP
/// Basic to that origin only (never to another host an upload location might name).
/// Token registries are supported as Docker does it: a 401 with <c>WWW-Authenticate: Bearer realm=…,service=…,scope=…</c>
/// is answered by fetching a token from the realm (with the Basic credentials) and retrying with <c>Authorization: Bearer</c>;
/// tokens are cached per scope until shortly before they expire. The credentials go to a realm only on the registry's own
/// origin or over HTTPS.
/// </summary>
public sealed partial class SignatureRegistry
{
    private static readonly string[] ManifestTypes =
    [
        SignatureManifest.ManifestMediaType,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ];

    /// <summary>How often <see cref="AttachAsync"/> re-reads and re-writes when a concurrent writer replaced its manifest.</summary>
    private const int AttachAttempts = 5;

    private readonly HttpClient http;
    private readonly RegistryCredentials? credentials;
    private readonly Uri baseAddress;
    private readonly Lock tokenLock = new();
    /// <summary>Registry tokens by the scope they were issued for.</summary>
    private readonly Dictionary<string, TokenEntry> tokens = new(StringComparer.Ordinal);
    /// <summary>The scope the registry challenged for a kind of request (<c>REPO pull</c> or <c>REPO push</c>).</summary>
    private readonly Dictionary<string, string> scopes = new(StringComparer.Ordinal);

    /// <summary>How long before its expiry a cached token is no longer used.</summary>
    private static readonly TimeSpan TokenSlack = TimeSpan.FromSeconds(10);

    private sealed record TokenEntry(string Token, DateTimeOffset UseUntil);

    /// <summary>Mints registry tokens for a challenged scope itself, for a token server talking to its own registry.</summary>
    private readonly Func<string, CancellationToken, Task<string>>? tokenSource;

    public SignatureRegistry(HttpClient http, RegistryCredentials? credentials = null)
    {
        this.http = http ?? throw new ArgumentNullException(nameof(http));
        this.credentials = credentials;
        baseAddress = http.BaseAddress ?? throw new ArgumentException("the HttpClient needs a BaseAddress: the registry's root URL", nameof(http));
    }

    /// <summary>
    /// A client whose Bearer challenges are answered by <paramref name="tokenSource"/> (given the challenged scope, e.g.
    /// <c>repository:alice/x:pull,push</c>) instead of a token server: for the hub, which is its registry's token server.
    /// </summary>
    public SignatureRegistry(HttpClient http, Func<string, CancellationToken, Task<string>> tokenSource) : this(http) =>
        this.tokenSource = tokenSource ?? throw new ArgumentNullException(nameof(tokenSource));

    /// <summary>
    /// The manifest digest of <paramref name="repository"/>:<paramref name="reference"/> (a tag or a digest),
    /// computed from the manifest bytes the registry returns, never taken from a header.
    /// </summary>
    public async Task<string> ResolveDigestAsync(string repository, string reference, CancellationToken cancellationToken = default)
    {
        ValidateRepository(repository);
        if (!SimpleSigningPayload.IsSha256Digest(reference) && !TagPattern().IsMatch(reference))
            throw new ArgumentException($"'{reference}' is neither a tag nor a sha256 digest", nameof(reference));
        var bytes = await GetManifestOrNullAsync(repository, reference, cancellationToken)
            ?? throw new SignatureRegistryException($"the registry has no manifest {repository}:{reference}", HttpStatusCode.NotFound);
        var digest = Cosign.Digest(bytes);
        if (reference.StartsWith("sha256:", StringComparison.Ordinal) && digest != reference)
            throw new SignatureRegistryException($"the registry returned a manifest for {repository}@{reference} whose digest is {digest}");
        return digest;
    }

    /// <summary>The image manifest stored under <paramref name="digest"/>, checked against it.</summary>
    public async Task<byte[]> ReadManifestAsync(string repository, string digest, CancellationToken cancellationToken = default)
    {
        ValidateRepository(repository);
        if (!SimpleSigningPayload.IsSha256Digest(digest)) throw new ArgumentException($"'{digest}' is not a sha256 digest", nameof(digest));
        var bytes = await GetManifestOrNullAsync(repository, digest, cancellationToken)
            ?? throw new SignatureRegistryException($"the registry has no manifest {repository}@{digest}", HttpStatusCode.NotFound);
        if (Cosign.Digest(bytes) != digest)
            throw new SignatureRegistryException($"the registry returned a manifest for {repository}@{digest} whose digest is {Cosign.Digest(bytes)}");
        return bytes;
    }

    /// <summary>The image's signature manifest, or null when it has none.</summary>
    public async Task<SignatureManifest?> ReadSignatureManifestAsync(string repository, string imageDigest, CancellationToken cancellationToken = default)
    {
        ValidateRepository(repository);
        var bytes = await GetManifestOrNullAsync(repository, Cosign.SignatureTag(imageDigest), cancellationToken);
        if (bytes is null) return null;
        try
        {
            return SignatureManifest.Parse(bytes);
        }
        catch (FormatException e)
        {
            throw new SignatureRegistryException($"{repository}:{Cosign.SignatureTag(imageDigest)} is not a signature manifest: {e.Message}");
        }
    }

    /// <summary>Every signature layer of the image with its payload blob (a blob that is missing or oversized reads as null).</summary>
    public async Task<IReadOnlyList<StoredSignature>> ReadSignaturesAsync(string repository, string imageDigest, CancellationToken cancellationToken = default)
    {
        var manifest = await ReadSignatureManifestAsync(repository, imageDigest, cancellationToken);
        if (manifest is null) return [];
        var result = new List<StoredSignature>();
        foreach (var layer in manifest.Layers)
        {
            byte[]? payload = null;
            if (layer.MediaType == Cosign.SimpleSigningMediaType && layer.Size <= SignatureVerifier.MaxPayloadBytes
                && SimpleSigningPayload.IsSha256Digest(layer.Digest))
                payload = await GetBlobOrNullAsync(repository, layer.Digest, SignatureVerifier.MaxPayloadBytes, cancellationToken);
            result.Add(new StoredSignature(layer, payload));
        }
        return result;
    }

    /// <summary>
    /// Reads the image's signatures and checks them against <paramref name="trustedKeys"/> (see <see cref="SignatureVerifier"/>):
    /// the result names the key ids that validly signed and why any other signature does not count. When
    /// <paramref name="expectedRepository"/> (<c>HOST[:PORT]/REPO</c>) is given, signatures must also name that repository.
    /// </summary>
    public async Task<SignatureVerification> VerifyAsync(string repository, string imageDigest, IEnumerable<VerificationKey> trustedKeys,
        string? expectedRepository = null, CancellationToken cancellationToken = default)
    {
        var signatures = await ReadSignaturesAsync(repository, imageDigest, cancellationToken);
        return SignatureVerifier.Verify(imageDigest, signatures, trustedKeys, expectedRepository);
    }

    /// <summary>
    /// Signs <paramref name="imageDigest"/> in <paramref name="repository"/> with <paramref name="key"/> and attaches the
    /// signature (see <see cref="AttachAsync"/>). The payload names <paramref name="dockerReference"/>, by default
    /// <c>HOST[:PORT]/REPO</c> of this client's base address: the name verifiers pull the image by.
    /// </summary>
    public async Task<ImageSignature> SignAsync(string repository, string imageDigest, SigningKey key,
        string? dockerReference = null, string? creator = null, CancellationToken cancellationToken = default)
    {
        ValidateRepository(repository);
        var payload = new SimpleSigningPayload(dockerReference ?? DockerReferenceFor(repository), imageDigest)
        {
            Creator = creator,
            Timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
        };
        var signature = ImageSignature.Create(key, payload);
        await AttachAsync(repository, imageDigest, signature, cancellationToken);
        return signature;
    }

    /// <summary><c>HOST[:PORT]/REPO</c> for this client's registry, as a verifier pulling through the same address names the image.</summary>
    public string DockerReferenceFor(string repository)
    {
        ValidateRepository(repository);
        return $"{baseAddress.Authority}/{repository}";
    }

    /// <summary>
    /// Adds <paramref name="signature"/> to the image's <c>.sig</c> manifest, keeping every signature already there
    /// (adding one that is present changes nothing; one whose payload names another digest is refused): uploads the
    /// payload and the new config blob, then puts
    /// the manifest. The registry has no conditional writes, so after the put the manifest is read back and,
    /// if a concurrent signer replaced it without this layer, merged and written again. Returns the stored manifest.
    /// </summary>
    public async Task<SignatureManifest> AttachAsync(string repository, string imageDigest, ImageSignature signature, CancellationToken cancellationToken = default)
    {
        ValidateRepository(repository);
        var tag = Cosign.SignatureTag(imageDigest);
        SimpleSigningPayload payload;
        try
        {
            payload = SimpleSigningPayload.Parse(signature.Payload);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"the signature's payload is not a simple-signing payload: {e.Message}", nameof(signature), e);
        }
        if (payload.ManifestDigest != imageDigest)
            throw new ArgumentException($"the signature is for {payload.ManifestDigest}, not for {imageDigest}", nameof(signature));
        var layer = signature.ToLayer();
        for (var attempt = 1; ; attempt++)
        {
            var existing = await ReadSignatureManifestAsync(repository, imageDigest, cancellationToken);
            if (existing is not null && existing.Contains(layer)) return existing;
            var manifest = (existing ?? SignatureManifest.Empty).Append(layer);
            await UploadBlobAsync(repository, layer.Digest, signature.Payload.ToArray(), cancellationToken);
            await UploadBlobAsync(repository, manifest.Config.Digest, manifest.ConfigBytes.ToArray(), cancellationToken);
            await PutManifestAsync(repository, tag, manifest, cancellationToken);

            var stored = await ReadSignatureManifestAsync(repository, imageDigest, cancellationToken);
            if (stored is not null && stored.Contains(layer)) return stored;
            if (attempt == AttachAttempts)
                throw new SignatureRegistryException($"{repository}:{tag} kept being replaced by concurrent writers; the signature was not kept after {attempt} attempts");
        }
    }

    /// <summary>Uploads a blob unless the repository already has it: monolithic upload (POST, then PUT with the digest).</summary>
    public async Task UploadBlobAsync(string repository, string digest, byte[] content, CancellationToken cancellationToken = default)
    {
        ValidateRepository(repository);
        if (Cosign.Digest(content) != digest) throw new ArgumentException($"the content's digest is not {digest}", nameof(digest));
        using (var head = await SendAsync(repository, () => new HttpRequestMessage(HttpMethod.Head, Api($"{repository}/blobs/{digest}")), cancellationToken))
            if (head.StatusCode == HttpStatusCode.OK) return;

        Uri location;
        using (var start = await SendAsync(repository, () => new HttpRequestMessage(HttpMethod.Post, Api($"{repository}/blobs/uploads/")), cancellationToken))
        {
            await EnsureAsync(start, HttpStatusCode.Accepted, $"starting a blob upload to {repository}", cancellationToken);
            var header = start.Headers.Location ?? throw new SignatureRegistryException($"the registry started an upload to {repository} without a Location");
            location = header.IsAbsoluteUri ? header : new Uri(start.RequestMessage!.RequestUri!, header);
        }
        var separator = string.IsNullOrEmpty(location.Query) ? "?" : "&";
        var target = new Uri(location.AbsoluteUri + separator + "digest=" + Uri.EscapeDataString(digest));
        using var finish = await SendAsync(repository, () =>
        {
            var put = new HttpRequestMessage(HttpMethod.Put, target) { Content = new ByteArrayContent(content) };
            put.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            return put;
        }, cancellationToken);
        await EnsureAsync(finish, HttpStatusCode.Created, $"uploading blob {digest} to {repository}", cancellationToken);
    }

    private async Task PutManifestAsync(string repository, string tag, SignatureManifest manifest, CancellationToken cancellationToken)
    {
        var bytes = manifest.Bytes.ToArray();
        using var response = await SendAsync(repository, () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Put, Api($"{repository}/manifests/{tag}")) { Content = new ByteArrayContent(bytes) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(SignatureManifest.ManifestMediaType);
            return request;
        }, cancellationToken);
        await EnsureAsync(response, HttpStatusCode.Created, $"putting {repository}:{tag}", cancellationToken);
    }

    private async Task<byte[]?> GetManifestOrNullAsync(string repository, string reference, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(repository, () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, Api($"{repository}/manifests/{reference}"));
            foreach (var type in ManifestTypes) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
            return request;
        }, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureAsync(response, HttpStatusCode.OK, $"reading {repository}:{reference}", cancellationToken);
        return await ReadLimitedAsync(response, SignatureManifest.MaxManifestBytes, $"{repository}:{reference}", cancellationToken);
    }

    private async Task<byte[]?> GetBlobOrNullAsync(string repository, string digest, int limit, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(repository, () => new HttpRequestMessage(HttpMethod.Get, Api($"{repository}/blobs/{digest}")), cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        await EnsureAsync(response, HttpStatusCode.OK, $"reading blob {digest} of {repository}", cancellationToken);
        try
        {
            return await ReadLimitedAsync(response, limit, digest, cancellationToken);
        }
        catch (SignatureRegistryException)
        {
            return null; // oversized: reported as an unreadable payload
        }
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpResponseMessage response, int limit, string what, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > limit) throw new SignatureRegistryException($"{what} is larger than {limit} bytes");
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit) throw new SignatureRegistryException($"{what} is larger than {limit} bytes");
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Sends with credentials for the base address's origin only; a redirect or upload URL elsewhere gets none. To the
    /// registry's origin goes a cached token for the request's scope when there is one, else the Basic credentials; a
    /// Bearer challenge is answered once by fetching a token for the challenged scope and sending the request again
    /// (<paramref name="create"/> builds a fresh request each time).
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(string repository, Func<HttpRequestMessage> create, CancellationToken cancellationToken)
    {
        var request = Prepare(create(), out var sameOrigin);
        if (!sameOrigin) return await SendCoreAsync(request, cancellationToken);
        var kind = $"{repository} {(request.Method == HttpMethod.Get || request.Method == HttpMethod.Head ? "pull" : "push")}";
        var sent = CachedTokenFor(kind);
        request.Headers.Authorization = sent is not null ? new AuthenticationHeaderValue("Bearer", sent) : credentials?.Header;
        var response = await SendCoreAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.Unauthorized || BearerChallenge(response) is not { } challenge) return response;

        var scope = challenge.GetValueOrDefault("scope") ?? "";
        // A token for this scope that was not the one just refused (another request may have fetched it meanwhile), else a new one.
        string? token;
        try
        {
            token = CachedToken(scope) is { } cached && cached != sent ? cached
                : tokenSource is not null ? await MintTokenAsync(scope, cancellationToken)
                : await FetchTokenAsync(challenge, scope, cancellationToken);
        }
        catch
        {
            response.Dispose();
            throw;
        }
        if (token is null) return response;
        lock (tokenLock) scopes[kind] = scope;
        response.Dispose();
        var retry = Prepare(create(), out _);
        retry.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return await SendCoreAsync(retry, cancellationToken);
    }

    private HttpRequestMessage Prepare(HttpRequestMessage request, out bool sameOrigin)
    {
        var uri = request.RequestUri!.IsAbsoluteUri ? request.RequestUri : new Uri(baseAddress, request.RequestUri);
        request.RequestUri = uri;
        sameOrigin = SameOrigin(uri, baseAddress);
        return request;
    }

    private static bool SameOrigin(Uri a, Uri b) =>
        Uri.Compare(a, b, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;

    private string? CachedTokenFor(string kind)
    {
        lock (tokenLock) return scopes.TryGetValue(kind, out var scope) ? CachedToken(scope) : null;
    }

    private string? CachedToken(string scope)
    {
        lock (tokenLock)
        {
            if (!tokens.TryGetValue(scope, out var cached)) return null;
            if (cached.UseUntil > DateTimeOffset.UtcNow) return cached.Token;
            tokens.Remove(scope);
            return null;
        }
    }

    /// <summary>The parameters of the response's Bearer challenge (realm, service, scope, error…), or null when it has none with a realm.</summary>
    private static Dictionary<string, string>? BearerChallenge(HttpResponseMessage response)
    {
        if (!response.Headers.NonValidated.TryGetValues("WWW-Authenticate", out var values)) return null;
        foreach (var value in values)
        {
            var text = value.Trim();
            if (!text.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) continue;
            var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (Match m in ChallengeParameter().Matches(text["Bearer ".Length..]))
                parameters.TryAdd(m.Groups["name"].Value, m.Groups["quoted"].Success ? m.Groups["quoted"].Value.Replace("\\\"", "\"", StringComparison.Ordinal) : m.Groups["token"].Value);
            if (parameters.ContainsKey("realm")) return parameters;
        }
        return null;
    }

    private async Task<string> MintTokenAsync(string scope, CancellationToken cancellationToken)
    {
        var token = await tokenSource!(scope, cancellationToken);
        // Minted tokens live at least a minute; reuse them for half of that.
        lock (tokenLock) tokens[scope] = new TokenEntry(token, DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30));
        return token;
    }

    /// <summary>
    /// Asks the challenge's realm for a token for <paramref name="scope"/> with the Basic credentials (anonymously without them)
    /// and caches it. Throws when the realm is not one the credentials may go to or the token server refuses.
    /// </summary>
    private async Task<string?> FetchTokenAsync(Dictionary<string, string> challenge, string scope, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(challenge["realm"], UriKind.Absolute, out var realm) || (realm.Scheme != Uri.UriSchemeHttp && realm.Scheme != Uri.UriSchemeHttps))
            throw new SignatureRegistryException($"the registry named '{challenge["realm"]}' as its token server, which is not an HTTP URL");
        if (credentials is not null && !SameOrigin(realm, baseAddress) && realm.Scheme != Uri.UriSchemeHttps)
            throw new SignatureRegistryException($"the registry's token server {realm.GetLeftPart(UriPartial.Authority)} is on another host and not HTTPS; refusing to send credentials there");
        var query = new StringBuilder(realm.Query.Length > 1 ? realm.Query[1..] : "");
        void Add(string name, string value)
        {
            if (query.Length > 0) query.Append('&');
            query.Append(name).Append('=').Append(Uri.EscapeDataString(value));
        }
        if (challenge.TryGetValue("service", out var service)) Add("service", service);
        // Distribution's scope is space-separated when several are challenged; the token server takes each as its own parameter.
        foreach (var one in scope.Split(' ', StringSplitOptions.RemoveEmptyEntries)) Add("scope", one);
        var url = new UriBuilder(realm) { Query = query.ToString() }.Uri;

        var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = credentials?.Header;
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        var requestedAt = DateTimeOffset.UtcNow;
        using var response = await SendCoreAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            await EnsureAsync(response, HttpStatusCode.OK, $"getting a registry token from {realm.GetLeftPart(UriPartial.Path)}", cancellationToken);
            return null;
        }
        var body = await ReadLimitedAsync(response, 64 * 1024, "the token server's answer", cancellationToken);
        string? token;
        int expiresIn;
        try
        {
            using var json = System.Text.Json.JsonDocument.Parse(body);
            var root = json.RootElement;
            token = root.TryGetProperty("token", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.String ? t.GetString()
                : root.TryGetProperty("access_token", out var a) && a.ValueKind == System.Text.Json.JsonValueKind.String ? a.GetString() : null;
            // The token specification's default lifetime is 60 seconds.
            expiresIn = root.TryGetProperty("expires_in", out var e) && e.TryGetInt32(out var seconds) && seconds > 0 ? seconds : 60;
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new SignatureRegistryException($"the token server's answer is not JSON: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            throw new SignatureRegistryException($"the token server's answer is not a JSON object: {e.Message}");
        }
        if (string.IsNullOrEmpty(token)) throw new SignatureRegistryException("the token server's answer has no token");
        var lifetime = TimeSpan.FromSeconds(expiresIn);
        var useUntil = requestedAt + (lifetime > 2 * TokenSlack ? lifetime - TokenSlack : lifetime / 2);
        lock (tokenLock) tokens[scope] = new TokenEntry(token, useUntil);
        return token;
    }

    private async Task<HttpResponseMessage> SendCoreAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new SignatureRegistryException($"{request.Method} {request.RequestUri}: {e.Message}", e.StatusCode);
        }
    }

    private static async Task EnsureAsync(HttpResponseMessage response, HttpStatusCode expected, string what, CancellationToken cancellationToken)
    {
        if (response.StatusCode == expected) return;
        string body;
        try
        {
            body = (await response.Content.ReadAsStringAsync(cancellationToken)).Trim();
        }
        catch (HttpRequestException)
        {
            body = "";
        }
        if (body.Length > 500) body = body[..500] + "…";
        var hint = response.StatusCode switch
        {
            HttpStatusCode.Unauthorized when BearerChallenge(response) is { } challenge && challenge.GetValueOrDefault("error") == "insufficient_scope"
                => " (the registry token does not grant this: these credentials may not do that)",
            HttpStatusCode.Unauthorized when BearerChallenge(response) is not null
                => " (the registry wants a token and did not accept the one these credentials were given)",
            HttpStatusCode.Unauthorized => " (missing or wrong credentials)",
            HttpStatusCode.Forbidden => " (these credentials may not do that)",
            _ => "",
        };
        throw new SignatureRegistryException($"{what}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}{hint}{(body.Length > 0 ? ": " + body : "")}", response.StatusCode);
    }

    private static Uri Api(string path) => new("/v2/" + path, UriKind.Relative);

    private static void ValidateRepository(string repository)
    {
        if (repository is null || repository.Length > 255 || !RepositoryPattern().IsMatch(repository))
            throw new ArgumentException($"'{repository}' is not a valid repository name (lower-case path components like 'alice/cohort-stats')", nameof(repository));
    }

    // The distribution spec's grammar for repository names and tags.
    [GeneratedRegex(@"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")]
    private static partial Regex TagPattern();

    // One auth-param of a challenge: name="quoted \" string" or name=token.
    [GeneratedRegex(@"(?<name>[A-Za-z0-9_-]+)\s*=\s*(?:""(?<quoted>(?:[^""\\]|\\.)*)""|(?<token>[^\s,]+))")]
    private static partial Regex ChallengeParameter();
}
