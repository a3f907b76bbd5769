using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;

namespace HealthTrain.Hub.Registry;

/// <summary>A pushed image as the registry holds it: its manifest digest, its config's labels, user and exposed ports, and its size (config and compressed layers).</summary>
public sealed record RegistryImage(string Repository, string Digest, IReadOnlyDictionary<string, string> Labels, string? User, long Size)
{
    public IReadOnlyList<string> ExposedPorts { get; init; } = [];
    public int Layers { get; init; }
}

/// <summary>Thrown when the registry has no such image, or holds something the hub cannot use.</summary>
public sealed class RegistryImageException(string message) : Exception(message);

/// <summary>The registry did not answer as a registry should (down, 5xx, malformed documents).</summary>
public sealed class RegistryUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Name rules of the distribution spec, checked before any name goes into a registry URL.</summary>
public static partial class RegistryNames
{
    [System.Text.RegularExpressions.GeneratedRegex("^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")]
    private static partial System.Text.RegularExpressions.Regex RepositoryPattern();

    [System.Text.RegularExpressions.GeneratedRegex("^(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$")]
    private static partial System.Text.RegularExpressions.Regex ReferencePattern();

    public static bool IsRepository(string name) => name.Length <= 255 && RepositoryPattern().IsMatch(name);

    /// <summary>A tag or a sha256 digest; never a path, so nothing like <c>../</c> reaches the registry.</summary>
    public static bool IsReference(string reference) => ReferencePattern().IsMatch(reference);
}

/// <summary>
/// Reads images straight from the upstream registry (on loopback, behind the gateway), with a short-lived pull token
/// the hub mints for itself: the registry accepts nothing else.
/// </summary>
public sealed class RegistryClient(HttpClient http, RegistryTokenIssuer tokens)
{
    private static readonly TimeSpan TokenLifetime = TimeSpan.FromMinutes(1);

    private static readonly string[] ManifestTypes =
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ];

    /// <summary>Resolves a tag or digest to the manifest digest and reads the image config.</summary>
    public async Task<RegistryImage> ReadImageAsync(string repository, string reference, CancellationToken ct)
    {
        if (!RegistryNames.IsRepository(repository) || !RegistryNames.IsReference(reference))
            throw new RegistryImageException($"'{repository}:{reference}' is not a valid image reference");
        try
        {
            return await ReadCheckedImageAsync(repository, reference, ct);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or InvalidOperationException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new RegistryUnavailableException($"the registry could not be read: {e.Message}", e);
        }
    }

    private async Task<RegistryImage> ReadCheckedImageAsync(string repository, string reference, CancellationToken ct)
    {
        var token = tokens.Issue(RegistryTokenIssuer.HubSubject, [new RegistryScope("repository", repository, [RegistryAccess.Pull])], TokenLifetime).Token;
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/manifests/{reference}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        foreach (var type in ManifestTypes) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        using var response = await http.SendAsync(request, ct);
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new RegistryImageException($"the registry has no image {repository}:{reference}; push it first");
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadAsByteArrayAsync(ct);
        var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(body));
        if (reference.StartsWith("sha256:", StringComparison.Ordinal) && reference != digest)
            throw new RegistryImageException($"the registry returned content for {reference} whose digest is {digest}");

        using var manifest = JsonDocument.Parse(body);
        var mediaType = manifest.RootElement.TryGetProperty("mediaType", out var mt) ? mt.GetString() : response.Content.Headers.ContentType?.MediaType;
        if (mediaType is "application/vnd.oci.image.index.v1+json" or "application/vnd.docker.distribution.manifest.list.v2+json")
            throw new RegistryImageException("multi-platform image indexes are not trains: push a single linux/amd64 image");
        if (!manifest.RootElement.TryGetProperty("config", out var config) || !config.TryGetProperty("digest", out var configDigest))
            throw new RegistryImageException($"the manifest of {repository}@{digest} has no image config");
        long size = config.TryGetProperty("size", out var cs) ? cs.GetInt64() : 0;
        var layerCount = 0;
        if (manifest.RootElement.TryGetProperty("layers", out var layers))
            foreach (var layer in layers.EnumerateArray())
            {
                size += layer.TryGetProperty("size", out var ls) ? ls.GetInt64() : 0;
                layerCount++;
            }

        using var blobRequest = new HttpRequestMessage(HttpMethod.Get, $"/v2/{repository}/blobs/{configDigest.GetString()}");
        blobRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var blob = await http.SendAsync(blobRequest, ct);
        blob.EnsureSuccessStatusCode();
        using var imageConfig = JsonDocument.Parse(await blob.Content.ReadAsByteArrayAsync(ct));
        var labels = new Dictionary<string, string>();
        string? user = null;
        var ports = new List<string>();
        if (imageConfig.RootElement.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.Object)
        {
            if (c.TryGetProperty("ExposedPorts", out var exposed) && exposed.ValueKind == JsonValueKind.Object)
                ports.AddRange(exposed.EnumerateObject().Select(p => p.Name));
            if (c.TryGetProperty("Labels", out var l) && l.ValueKind == JsonValueKind.Object)
                foreach (var p in l.EnumerateObject())
                    labels[p.Name] = p.Value.GetString() ?? "";
            if (c.TryGetProperty("User", out var u)) user = u.GetString();
        }
        return new RegistryImage(repository, digest, labels, user, size) { ExposedPorts = ports, Layers = layerCount };
    }
}
