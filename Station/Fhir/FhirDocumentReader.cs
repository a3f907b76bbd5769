using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace HealthTrain.Station.Fhir;

/// <summary>Turns one FHIR JSON document (a Bundle of any type, or a single resource) into store rows, rewriting in-bundle <c>fullUrl</c> references to <c>Type/id</c>.</summary>
/// <remarks>Not thread-safe: it reuses one output buffer and writer across documents.</remarks>
internal sealed class FhirDocumentReader
{
    // FHIR allows deep nesting (Questionnaire items, contained resources); 64 is too tight.
    private static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = 256 };

    private readonly ArrayBufferWriter<byte> _output = new(256 * 1024);
    private readonly Utf8JsonWriter _writer;
    private readonly Dictionary<string, string> _fullUrls = new(StringComparer.Ordinal);

    public FhirDocumentReader()
    {
        // Only names and rewritten references go through the encoder; values are copied raw.
        _writer = new Utf8JsonWriter(_output, new JsonWriterOptions
        {
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            SkipValidation = true,
        });
    }

    /// <summary>Parses <paramref name="json"/> (found at <paramref name="location"/> in its file, e.g. <c>line 12</c>, or empty for a whole file) and appends its resources to <paramref name="rows"/> and unusable ones to <paramref name="rejected"/>.</summary>
    /// <exception cref="JsonException">The text is not valid JSON; the message carries the line and byte position.</exception>
    public void Read(
        ReadOnlyMemory<byte> json,
        string location,
        string defaultLastUpdated,
        List<FhirResourceRow> rows,
        List<(string Location, string Reason)> rejected)
    {
        using var document = JsonDocument.Parse(json, ParseOptions);
        var where = location.Length == 0 ? "document" : location;
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            rejected.Add((where, $"expected a JSON object, found {root.ValueKind}"));
            return;
        }

        if (TryGetString(root, "resourceType"u8, out var rootType) && rootType == "Bundle")
        {
            ReadBundle(root, location, defaultLastUpdated, rows, rejected);
        }
        else if (AddResource(root, defaultLastUpdated, rows) is { } reason)
        {
            rejected.Add((where, reason));
        }
    }

    private void ReadBundle(
        JsonElement bundle,
        string location,
        string defaultLastUpdated,
        List<FhirResourceRow> rows,
        List<(string Location, string Reason)> rejected)
    {
        if (!bundle.TryGetProperty("entry"u8, out var entries) || entries.ValueKind != JsonValueKind.Array)
        {
            return;
        }

        // First pass: references may point forward, so learn every fullUrl before writing anything.
        _fullUrls.Clear();
        foreach (var entry in entries.EnumerateArray())
        {
            if (entry.ValueKind == JsonValueKind.Object
                && TryGetString(entry, "fullUrl"u8, out var fullUrl)
                && entry.TryGetProperty("resource"u8, out var resource)
                && resource.ValueKind == JsonValueKind.Object
                && TryGetString(resource, "resourceType"u8, out var type)
                && TryGetString(resource, "id"u8, out var id))
            {
                _fullUrls[fullUrl] = type + "/" + id;
            }
        }

        try
        {
            var index = 0;
            foreach (var entry in entries.EnumerateArray())
            {
                var reason = entry.ValueKind == JsonValueKind.Object
                    && entry.TryGetProperty("resource"u8, out var resource)
                    && resource.ValueKind == JsonValueKind.Object
                        ? AddResource(resource, defaultLastUpdated, rows)
                        : "bundle entry has no resource";
                if (reason is not null)
                {
                    rejected.Add((location.Length == 0 ? $"entry[{index}]" : $"{location}, entry[{index}]", reason));
                }

                index++;
            }
        }
        finally
        {
            // Scope of fullUrls is one bundle.
            _fullUrls.Clear();
        }
    }

    /// <summary>Adds the resource's row, or returns why it cannot be stored.</summary>
    private string? AddResource(JsonElement resource, string defaultLastUpdated, List<FhirResourceRow> rows)
    {
        if (!TryGetString(resource, "resourceType"u8, out var type))
        {
            return "resource has no resourceType";
        }

        if (!TryGetString(resource, "id"u8, out var id))
        {
            return $"{type} has no id";
        }

        _output.ResetWrittenCount();
        _writer.Reset();
        WriteElement(resource);
        _writer.Flush();

        var lastUpdated = resource.TryGetProperty("meta"u8, out var meta)
            && meta.ValueKind == JsonValueKind.Object
            && TryGetString(meta, "lastUpdated"u8, out var metaLastUpdated)
                ? metaLastUpdated
                : defaultLastUpdated;

        rows.Add(new FhirResourceRow(type, id, lastUpdated, FindSubject(resource), Encoding.UTF8.GetString(_output.WrittenSpan)));
        return null;
    }

    /// <summary>Copies <paramref name="element"/> compactly, replacing <c>reference</c> strings that name a fullUrl of the bundle.</summary>
    private void WriteElement(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                _writer.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    WritePropertyName(property);
                    var value = property.Value;
                    if (value.ValueKind == JsonValueKind.String
                        && _fullUrls.Count > 0
                        && property.NameEquals("reference"u8)
                        && _fullUrls.TryGetValue(value.GetString()!, out var rewritten))
                    {
                        _writer.WriteStringValue(rewritten);
                    }
                    else
                    {
                        WriteElement(value);
                    }
                }

                _writer.WriteEndObject();
                break;

            case JsonValueKind.Array:
                _writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteElement(item);
                }

                _writer.WriteEndArray();
                break;

            default:
                // Already-valid JSON tokens: copying the raw bytes skips unescaping and re-escaping.
                _writer.WriteRawValue(JsonMarshal.GetRawUtf8Value(element), skipInputValidation: true);
                break;
        }
    }

    private void WritePropertyName(JsonProperty property)
    {
        var raw = JsonMarshal.GetRawUtf8PropertyName(property);
        if (raw.IndexOf((byte)'\\') < 0)
        {
            _writer.WritePropertyName(raw);
        }
        else
        {
            // The raw name is still escaped; the writer would escape the backslashes again.
            _writer.WritePropertyName(property.Name);
        }
    }

    /// <summary>The (rewritten) <c>subject</c> or <c>patient</c> reference as <c>Type/id</c>, used to index resources by patient.</summary>
    private string? FindSubject(JsonElement resource)
    {
        foreach (var name in (ReadOnlySpan<string>)["subject", "patient"])
        {
            if (resource.TryGetProperty(name, out var holder)
                && holder.ValueKind == JsonValueKind.Object
                && TryGetString(holder, "reference"u8, out var reference))
            {
                return FhirReference.ToTypeAndId(_fullUrls.GetValueOrDefault(reference, reference));
            }
        }

        return null;
    }

    private static bool TryGetString(JsonElement element, ReadOnlySpan<byte> name, out string value)
    {
        if (element.TryGetProperty(name, out var property)
            && property.ValueKind == JsonValueKind.String
            && property.GetString() is { Length: > 0 } text)
        {
            value = text;
            return true;
        }

        value = "";
        return false;
    }
}
