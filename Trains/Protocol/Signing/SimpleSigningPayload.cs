using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace HealthTrain.Trains.Protocol.Signing;

/// <summary>
/// The signed statement of a cosign image signature: the "simple signing" payload of
/// containers-signature(5) with cosign's type string. The signature covers its exact bytes, which are
/// stored as the signature layer's blob:
/// <code>
/// {"critical":{"identity":{"docker-reference":"HOST/REPO"},"image":{"docker-manifest-digest":"sha256:…"},
///  "type":"cosign container image signature"},"optional":{…} or null}
/// </code>
/// </summary>
/// <param name="DockerReference">The image's name as signed, <c>HOST[:PORT]/REPO</c> (cosign writes no tag). containers/image
/// checks it against policy.json's <c>signedIdentity</c>; cosign itself ignores it.</param>
/// <param name="ManifestDigest">The digest of the signed image manifest, <c>sha256:</c> and 64 lower-case hex digits.</param>
public sealed partial record SimpleSigningPayload(string DockerReference, string ManifestDigest)
{
    /// <summary>The <c>critical.type</c> of cosign signatures, which containers/image requires.</summary>
    public const string CosignType = "cosign container image signature";

    /// <summary>Free-form <c>optional.creator</c> (containers/image reads it as a string).</summary>
    public string? Creator { get; init; }

    /// <summary><c>optional.timestamp</c>, Unix seconds (containers/image requires an integer).</summary>
    public long? Timestamp { get; init; }

    /// <summary>Further string entries of <c>optional</c> (cosign's <c>-a key=value</c> annotations); not <c>creator</c> or <c>timestamp</c>.</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// The payload bytes: compact JSON in cosign's member order, <c>optional</c> members sorted ordinally
    /// (as Go marshals a map) and <c>"optional":null</c> when there are none, exactly as cosign writes it.
    /// </summary>
    public byte[] ToBytes()
    {
        Validate();
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartObject("critical");
            json.WriteStartObject("identity");
            json.WriteString("docker-reference", DockerReference);
            json.WriteEndObject();
            json.WriteStartObject("image");
            json.WriteString("docker-manifest-digest", ManifestDigest);
            json.WriteEndObject();
            json.WriteString("type", CosignType);
            json.WriteEndObject();

            var optional = new SortedDictionary<string, object>(StringComparer.Ordinal);
            foreach (var (key, value) in Annotations) optional[key] = value;
            if (Creator is not null) optional["creator"] = Creator;
            if (Timestamp is not null) optional["timestamp"] = Timestamp.Value;
            if (optional.Count == 0) json.WriteNull("optional");
            else
            {
                json.WriteStartObject("optional");
                foreach (var (key, value) in optional)
                {
                    if (value is long number) json.WriteNumber(key, number);
                    else json.WriteString(key, (string)value);
                }
                json.WriteEndObject();
            }
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>
    /// Parses payload bytes as strictly as containers/image does: exactly the members above (no others, no
    /// duplicates), cosign's type, a sha256 digest; <c>optional</c> may be null, and its non-string members
    /// other than <c>timestamp</c> are ignored. Throws <see cref="FormatException"/> saying what is wrong.
    /// </summary>
    public static SimpleSigningPayload Parse(ReadOnlySpan<byte> json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.ToArray());
        }
        catch (JsonException e)
        {
            throw new FormatException($"the payload is not JSON: {e.Message}", e);
        }
        using (document)
        {
            var top = Members(document.RootElement, "payload", ["critical", "optional"], exact: true);
            var critical = Members(top["critical"], "critical", ["type", "image", "identity"], exact: true);
            var type = String(critical["type"], "critical.type");
            if (type != CosignType) throw new FormatException($"critical.type is '{type}', not '{CosignType}'");
            var digest = String(Members(critical["image"], "critical.image", ["docker-manifest-digest"], exact: true)["docker-manifest-digest"],
                "critical.image.docker-manifest-digest");
            if (!IsSha256Digest(digest)) throw new FormatException($"critical.image.docker-manifest-digest '{digest}' is not sha256: and 64 lower-case hex digits");
            var reference = String(Members(critical["identity"], "critical.identity", ["docker-reference"], exact: true)["docker-reference"],
                "critical.identity.docker-reference");

            string? creator = null;
            long? timestamp = null;
            var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
            var optional = top["optional"];
            if (optional.ValueKind != JsonValueKind.Null)
            {
                foreach (var (name, value) in Members(optional, "optional", [], exact: false))
                {
                    switch (name)
                    {
                        case "creator":
                            creator = String(value, "optional.creator");
                            break;
                        case "timestamp":
                            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var seconds))
                                throw new FormatException("optional.timestamp is not an integer");
                            timestamp = seconds;
                            break;
                        default:
                            if (value.ValueKind == JsonValueKind.String) annotations[name] = value.GetString()!;
                            break;
                    }
                }
            }
            return new SimpleSigningPayload(reference, digest) { Creator = creator, Timestamp = timestamp, Annotations = annotations };
        }
    }

    /// <summary>True for <c>sha256:</c> followed by 64 lower-case hex digits, the only digest form this library handles.</summary>
    public static bool IsSha256Digest(string? digest) => digest is not null && Sha256Digest().IsMatch(digest);

    private void Validate()
    {
        if (string.IsNullOrWhiteSpace(DockerReference) || DockerReference.Any(char.IsWhiteSpace))
            throw new ArgumentException($"docker reference '{DockerReference}' is empty or contains white space");
        if (!IsSha256Digest(ManifestDigest))
            throw new ArgumentException($"manifest digest '{ManifestDigest}' is not sha256: and 64 lower-case hex digits");
        foreach (var key in Annotations.Keys)
            if (key is "creator" or "timestamp")
                throw new ArgumentException($"'{key}' is set through {(key == "creator" ? nameof(Creator) : nameof(Timestamp))}, not as an annotation");
    }

    private static Dictionary<string, JsonElement> Members(JsonElement element, string where, string[] required, bool exact)
    {
        if (element.ValueKind != JsonValueKind.Object) throw new FormatException($"{where} is not a JSON object");
        var members = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (exact && !required.Contains(property.Name)) throw new FormatException($"{where} has an unexpected member '{property.Name}'");
            if (!members.TryAdd(property.Name, property.Value)) throw new FormatException($"{where} has the member '{property.Name}' twice");
        }
        foreach (var name in required)
            if (!members.ContainsKey(name)) throw new FormatException($"{where} lacks the member '{name}'");
        return members;
    }

    private static string String(JsonElement element, string where) =>
        element.ValueKind == JsonValueKind.String ? element.GetString()! : throw new FormatException($"{where} is not a string");

    [GeneratedRegex("^sha256:[0-9a-f]{64}$")]
    private static partial Regex Sha256Digest();
}
