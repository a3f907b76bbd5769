using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using HealthTrain.Station.Fhir;

namespace HealthTrain.Station.Ingestion;

/// <summary>
/// Rewrites references that name a bundle <c>fullUrl</c> (<c>urn:uuid:…</c>) to <c>Type/id</c> in one resource at a time,
/// with the loader's own <see cref="FhirDocumentReader"/>: the resource goes in as the first entry of a small bundle
/// whose other entries are stubs (<c>{"resourceType":T,"id":I}</c> under each fullUrl it uses), so the reader's bundle
/// rewrite applies exactly as at station start, without holding the whole original bundle in memory.
/// </summary>
/// <remarks>Not thread-safe (reuses buffers, as <see cref="FhirDocumentReader"/> does).</remarks>
internal sealed class BundleReferenceRewriter
{
    private readonly FhirDocumentReader _reader = new();
    private readonly ArrayBufferWriter<byte> _bundle = new(64 * 1024);
    private readonly Utf8JsonWriter _writer;
    private readonly List<FhirResourceRow> _rows = [];
    private readonly List<(string Location, string Reason)> _rejected = [];
    private readonly Dictionary<string, string> _used = new(StringComparer.Ordinal);

    public BundleReferenceRewriter()
    {
        _writer = new Utf8JsonWriter(_bundle, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true });
    }

    /// <summary>
    /// The resource's store row with every reference found in <paramref name="fullUrls"/> (fullUrl → <c>Type/id</c>) rewritten;
    /// null when it uses none of them, or has no resourceType or id (validation reports that), so the text stays as it is.
    /// </summary>
    /// <exception cref="JsonException">The resource is not valid JSON.</exception>
    public FhirResourceRow? Rewrite(ReadOnlyMemory<byte> resource, Dictionary<string, string> fullUrls, string defaultLastUpdated)
    {
        if (fullUrls.Count == 0)
        {
            return null;
        }

        _used.Clear();
        CollectUsedFullUrls(resource.Span, fullUrls, _used);
        if (_used.Count == 0)
        {
            return null;
        }

        _bundle.ResetWrittenCount();
        _bundle.Write("""{"resourceType":"Bundle","entry":[{"resource":"""u8);
        _bundle.Write(resource.Span);
        _bundle.Write("}"u8);
        foreach (var (fullUrl, typeAndId) in _used)
        {
            var slash = typeAndId.IndexOf('/');
            _bundle.Write(","u8);
            _writer.Reset();
            _writer.WriteStartObject();
            _writer.WriteString("fullUrl"u8, fullUrl);
            _writer.WriteStartObject("resource"u8);
            _writer.WriteString("resourceType"u8, typeAndId.AsSpan(0, slash));
            _writer.WriteString("id"u8, typeAndId.AsSpan(slash + 1));
            _writer.WriteEndObject();
            _writer.WriteEndObject();
            _writer.Flush();
        }

        _bundle.Write("]}"u8);

        _rows.Clear();
        _rejected.Clear();
        _reader.Read(_bundle.WrittenMemory, "", defaultLastUpdated, _rows, _rejected);
        if (_rejected.Count > 0 || _rows.Count != _used.Count + 1)
        {
            // The resource itself lacks resourceType or id: the first row is a stub, not the resource.
            return null;
        }

        return _rows[0];
    }

    /// <summary>Adds to <paramref name="used"/> every <c>reference</c> string in <paramref name="json"/> that is a key of <paramref name="fullUrls"/>.</summary>
    internal static void CollectUsedFullUrls(ReadOnlySpan<byte> json, Dictionary<string, string> fullUrls, Dictionary<string, string> used)
    {
        var lookup = fullUrls.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> chars = stackalloc char[256];
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        var afterReference = false;
        while (reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.PropertyName:
                    afterReference = reader.ValueTextEquals("reference"u8);
                    break;
                case JsonTokenType.String when afterReference:
                    afterReference = false;
                    if (!reader.ValueIsEscaped && reader.ValueSpan.Length <= chars.Length)
                    {
                        // The common case without allocating: unescaped and short.
                        if (System.Text.Unicode.Utf8.ToUtf16(reader.ValueSpan, chars, out _, out var written) == System.Buffers.OperationStatus.Done
                            && lookup.TryGetValue(chars[..written], out var key, out var found))
                        {
                            used[key] = found;
                        }
                    }
                    else if (reader.GetString() is { } reference && fullUrls.TryGetValue(reference, out var target))
                    {
                        used[reference] = target;
                    }

                    break;
                default:
                    afterReference = false;
                    break;
            }
        }
    }
}
