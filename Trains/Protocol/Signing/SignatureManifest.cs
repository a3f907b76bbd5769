using System.Text.Encodings.Web;
using System.Text.Json;

namespace HealthTrain.Trains.Protocol.Signing;

/// <summary>An OCI content descriptor: media type, digest, size and optional string annotations.</summary>
public sealed record OciDescriptor(string MediaType, string Digest, long Size, IReadOnlyDictionary<string, string>? Annotations = null)
{
    /// <summary>The annotation <paramref name="key"/>, or null.</summary>
    public string? Annotation(string key) => Annotations is not null && Annotations.TryGetValue(key, out var value) ? value : null;

    /// <summary>Same blob and same annotations: the same signature layer.</summary>
    public bool SameAs(OciDescriptor other) =>
        MediaType == other.MediaType && Digest == other.Digest && Size == other.Size
        && (Annotations?.Count ?? 0) == (other.Annotations?.Count ?? 0)
        && (Annotations ?? new Dictionary<string, string>()).All(a => other.Annotation(a.Key) == a.Value);
}

/// <summary>
/// The OCI image manifest cosign stores under an image's <c>sha256-&lt;hex&gt;.sig</c> tag: one layer per
/// signature (media type <see cref="Cosign.SimpleSigningMediaType"/>, the payload as blob, the signature in
/// the <see cref="Cosign.SignatureAnnotation"/> annotation), and the config blob go-containerregistry
/// writes for it (empty platform, zero times, one history entry and one diff_id per layer). Immutable:
/// <see cref="Append(OciDescriptor)"/> returns a new manifest that keeps every existing layer, whatever its annotations.
/// </summary>
public sealed class SignatureManifest
{
    public const string ManifestMediaType = "application/vnd.oci.image.manifest.v1+json";
    public const string ConfigMediaType = "application/vnd.oci.image.config.v1+json";

    /// <summary>Limit on a signature manifest read from a registry (containers/image uses 4 MiB for manifests).</summary>
    public const int MaxManifestBytes = 4 * 1024 * 1024;

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private readonly byte[] bytes;
    private readonly byte[] config;

    private SignatureManifest(IReadOnlyList<OciDescriptor> layers)
    {
        Layers = layers;
        config = BuildConfig(layers);
        Config = new OciDescriptor(ConfigMediaType, Cosign.Digest(config), config.Length);
        bytes = BuildManifest(Config, layers);
        Digest = Cosign.Digest(bytes);
    }

    /// <summary>A manifest with no signatures yet.</summary>
    public static SignatureManifest Empty { get; } = new([]);

    /// <summary>The signature layers, oldest first.</summary>
    public IReadOnlyList<OciDescriptor> Layers { get; }

    /// <summary>The config blob's descriptor.</summary>
    public OciDescriptor Config { get; }

    /// <summary>The config blob, to upload before the manifest.</summary>
    public ReadOnlySpan<byte> ConfigBytes => config;

    /// <summary>The manifest JSON, to PUT with content type <see cref="ManifestMediaType"/>.</summary>
    public ReadOnlySpan<byte> Bytes => bytes;

    /// <summary>The manifest's digest.</summary>
    public string Digest { get; }

    /// <summary>A manifest holding <paramref name="layers"/> in order.</summary>
    public static SignatureManifest Create(IEnumerable<OciDescriptor> layers) => new([.. layers]);

    /// <summary>This manifest plus <paramref name="layer"/> at the end; this very manifest if it already holds that layer.</summary>
    public SignatureManifest Append(OciDescriptor layer) => Contains(layer) ? this : new([.. Layers, layer]);

    /// <summary>This manifest plus the signature's layer (see <see cref="Append(OciDescriptor)"/>).</summary>
    public SignatureManifest Append(ImageSignature signature) => Append(signature.ToLayer());

    /// <summary>True when a layer with the same blob and annotations is present.</summary>
    public bool Contains(OciDescriptor layer) => Layers.Any(l => l.SameAs(layer));

    /// <summary>
    /// Reads the layers of a stored signature manifest (cosign's, or one written here). Layers of other media types
    /// are kept, so appending never drops what another tool stored. Throws <see cref="FormatException"/> for
    /// anything that is not an image manifest.
    /// </summary>
    public static SignatureManifest Parse(ReadOnlySpan<byte> manifest)
    {
        if (manifest.Length > MaxManifestBytes) throw new FormatException($"the signature manifest is larger than {MaxManifestBytes} bytes");
        try
        {
            using var document = JsonDocument.Parse(manifest.ToArray());
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException("the signature manifest is not a JSON object");
            if (!root.TryGetProperty("schemaVersion", out var version) || version.ValueKind != JsonValueKind.Number || version.GetInt32() != 2)
                throw new FormatException("the signature manifest is not schemaVersion 2");
            if (root.TryGetProperty("mediaType", out var mediaType) && mediaType.GetString() is { } type
                && type is not (ManifestMediaType or "application/vnd.docker.distribution.manifest.v2+json"))
                throw new FormatException($"the signature tag holds a {type}, not an image manifest");
            var layers = new List<OciDescriptor>();
            if (root.TryGetProperty("layers", out var array) && array.ValueKind != JsonValueKind.Null)
                foreach (var layer in array.EnumerateArray())
                    layers.Add(ReadDescriptor(layer));
            return new SignatureManifest(layers);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException)
        {
            throw new FormatException($"the signature manifest is malformed: {e.Message}", e);
        }
    }

    private static OciDescriptor ReadDescriptor(JsonElement layer)
    {
        var mediaType = layer.GetProperty("mediaType").GetString() ?? throw new FormatException("a layer has no mediaType");
        var digest = layer.GetProperty("digest").GetString() ?? throw new FormatException("a layer has no digest");
        var size = layer.GetProperty("size").GetInt64();
        Dictionary<string, string>? annotations = null;
        if (layer.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object)
        {
            annotations = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in a.EnumerateObject())
                annotations[p.Name] = p.Value.GetString() ?? "";
        }
        return new OciDescriptor(mediaType, digest, size, annotations);
    }

    /// <summary>
    /// go-containerregistry's config for <c>mutate.Append(empty.Image, layers…)</c>, member for member as Go marshals it:
    /// <c>{"architecture":"","created":"0001-01-01T00:00:00Z","history":[…],"os":"","rootfs":{…},"config":{}}</c>.
    /// The layers are stored uncompressed, so each diff_id is the layer digest.
    /// </summary>
    private static byte[] BuildConfig(IReadOnlyList<OciDescriptor> layers)
    {
        const string zeroTime = "0001-01-01T00:00:00Z";
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("architecture", "");
            json.WriteString("created", zeroTime);
            if (layers.Count > 0)
            {
                json.WriteStartArray("history");
                foreach (var _ in layers)
                {
                    json.WriteStartObject();
                    json.WriteString("created", zeroTime);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            json.WriteString("os", "");
            json.WriteStartObject("rootfs");
            json.WriteString("type", "layers");
            json.WriteStartArray("diff_ids");
            foreach (var layer in layers) json.WriteStringValue(layer.Digest);
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartObject("config");
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static byte[] BuildManifest(OciDescriptor config, IReadOnlyList<OciDescriptor> layers)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteNumber("schemaVersion", 2);
            json.WriteString("mediaType", ManifestMediaType);
            json.WritePropertyName("config");
            WriteDescriptor(json, config);
            json.WriteStartArray("layers");
            foreach (var layer in layers) WriteDescriptor(json, layer);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    private static void WriteDescriptor(Utf8JsonWriter json, OciDescriptor descriptor)
    {
        json.WriteStartObject();
        json.WriteString("mediaType", descriptor.MediaType);
        json.WriteNumber("size", descriptor.Size);
        json.WriteString("digest", descriptor.Digest);
        if (descriptor.Annotations is { Count: > 0 } annotations)
        {
            json.WriteStartObject("annotations");
            foreach (var (key, value) in annotations.OrderBy(a => a.Key, StringComparer.Ordinal)) json.WriteString(key, value);
            json.WriteEndObject();
        }
        json.WriteEndObject();
    }
}
