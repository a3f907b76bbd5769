using System.Text;
using System.Text.Json;

namespace HealthTrain.Station.Ingestion;

/// <summary>
/// <c>fhir-bundle</c>: a file or folder of FHIR R4 JSON documents, each a Bundle (of any type) or a single resource.
/// A bundle yields one record per entry, with in-bundle <c>fullUrl</c> references rewritten to <c>Type/id</c> as the
/// station's loader does; a single resource yields one record.
/// </summary>
/// <remarks>
/// Streams: a first pass over the file learns each entry's fullUrl, type and id (and STU3 marks), a second pass reads one
/// entry at a time, so memory holds one resource plus the bundle's fullUrl map, whatever the file size. A file whose JSON
/// is broken (truncated, spliced) yields one error record and nothing else: a bundle is one unit, and entries before the
/// damage may refer to entries after it. A bundle with STU3 marks yields every entry as an error (STU3, not R4), including
/// the entries that happen to parse as R4. Not thread-safe; create one per run.
/// </remarks>
public sealed class FhirBundleSource : IFileFhirSource, IFullUrlSource, ISizeLimitedSource
{
    /// <summary>The <c>--format</c> name.</summary>
    public const string FormatName = "fhir-bundle";

    private readonly BundleReferenceRewriter _rewriter = new();

    /// <inheritdoc />
    public string Format => FormatName;

    /// <inheritdoc />
    public int MaxResourceBytes { get; set; } = FhirIngestionOptions.DefaultMaxResourceBytes;

    /// <summary>How much of a rejected file or entry goes into the error record's text.</summary>
    public int ExcerptBytes { get; set; } = FhirIngestionOptions.DefaultQuarantineTextBytes;

    /// <inheritdoc />
    public Action<string, string>? FullUrlFound { get; set; }

    /// <inheritdoc />
    public IEnumerable<SourceRecord> Read(string path, CancellationToken cancellationToken)
    {
        foreach (var file in ListFiles(path))
        {
            foreach (var record in ReadFile(path, file, cancellationToken))
            {
                yield return record;
            }
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<string> ListFiles(string path) => SourceFiles.List(path, ".json");

    /// <inheritdoc />
    public IEnumerable<SourceRecord> ReadFile(string path, string file, CancellationToken cancellationToken)
    {
        var name = SourceFiles.Display(path, file);
        BundleOutline outline;
        try
        {
            outline = BundleOutline.Scan(file, cancellationToken);
        }
        catch (JsonStreamException e)
        {
            outline = BundleOutline.Failed(Describe(name, file, e));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            outline = BundleOutline.Failed($"{name}: cannot read: {e.Message}");
        }

        if (outline.Error is not null)
        {
            var length = File.Exists(file) ? new FileInfo(file).Length : 0;
            yield return new SourceRecord(name, SourceFiles.Head(file, ExcerptBytes), QuarantineCategory.WithExcerpt(outline.Error, Math.Min(length, ExcerptBytes), length));
            yield break;
        }

        foreach (var (fullUrl, typeAndId) in outline.FullUrls)
        {
            if (fullUrl.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
            {
                FullUrlFound?.Invoke(fullUrl, typeAndId);
            }
        }

        using var entries = new EntryReader(this, file, name, outline);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            SourceRecord? record;
            try
            {
                record = entries.Next();
            }
            catch (Exception e) when (e is JsonStreamException or IOException or UnauthorizedAccessException)
            {
                // Pass one read the file whole and valid: it changed or vanished since.
                record = new SourceRecord(name, null, $"{name}: cannot read the rest of the file (it changed while it was read): {e.Message}");
                entries.Stop();
            }

            if (record is null)
            {
                yield break;
            }

            yield return record;
        }
    }

    private static string Describe(string name, string file, JsonStreamException e)
    {
        var length = new FileInfo(file).Length;
        var where = $"line {e.Line}, column {e.Column} (byte {QuarantineCategory.Bytes(e.Offset)} of {QuarantineCategory.Bytes(length)})";
        return e.AtEndOfData
            ? $"{name}: {QuarantineCategory.TruncatedPhrase} the JSON ends before the document is complete, at {where}: {e.Message}; nothing from this file is ingested"
            : $"{name} {QuarantineCategory.InvalidJsonPhrase}: at {where}: {e.Message}; nothing from this file is ingested";
    }

    /// <summary>What the first pass learned: whether the root is a Bundle, its entries' fullUrls, and STU3 marks.</summary>
    private sealed class BundleOutline
    {
        public string? Error { get; private init; }

        public bool IsBundle { get; private set; }

        public Dictionary<string, string> FullUrls { get; } = new(StringComparer.Ordinal);

        public Stu3Evidence Stu3 { get; } = new();

        public static BundleOutline Failed(string error) => new() { Error = error };

        public static BundleOutline Scan(string file, CancellationToken cancellationToken)
        {
            var outline = new BundleOutline();
            using var json = new JsonStreamReader(SourceFiles.OpenSequential(file));
            if (!json.Read())
            {
                return Failed($"{Path.GetFileName(file)} {QuarantineCategory.InvalidJsonPhrase}: the file is empty");
            }

            if (json.TokenType != JsonTokenType.StartObject)
            {
                return Failed($"{Path.GetFileName(file)}: the JSON root is a {json.TokenType}, not a resource: it {QuarantineCategory.NoResourcePhrase}");
            }

            string? rootType = null;
            var entriesSeen = 0;
            while (json.Read() && json.TokenType == JsonTokenType.PropertyName)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (json.ValueTextEquals("resourceType"u8))
                {
                    rootType = ReadString(json);
                }
                else if (json.ValueTextEquals("entry"u8) && ReadValueIs(json, JsonTokenType.StartArray))
                {
                    while (json.Read() && json.TokenType != JsonTokenType.EndArray)
                    {
                        entriesSeen++;
                        if (json.TokenType == JsonTokenType.StartObject)
                        {
                            outline.ScanEntry(json);
                        }
                        else
                        {
                            json.Skip();
                        }
                    }
                }
                else
                {
                    json.Skip();
                }
            }

            // Anything after the root value is an error; Read throws for it.
            json.Read();
            outline.IsBundle = rootType == "Bundle";
            if (!outline.IsBundle)
            {
                outline.FullUrls.Clear();
                outline.Stu3.Clear();
            }

            return outline;
        }

        /// <summary>At an entry's start: records its fullUrl → Type/id and the resource's STU3 marks.</summary>
        private void ScanEntry(JsonStreamReader json)
        {
            var depth = json.CurrentDepth;
            string? fullUrl = null;
            ResourceOutline? resource = null;
            while (json.Read() && !(json.TokenType == JsonTokenType.EndObject && json.CurrentDepth == depth))
            {
                if (json.ValueTextEquals("fullUrl"u8))
                {
                    fullUrl = ReadString(json);
                }
                else if (json.ValueTextEquals("resource"u8) && ReadValueIs(json, JsonTokenType.StartObject))
                {
                    resource = ResourceOutline.Scan(json, Stu3);
                }
                else
                {
                    json.Skip();
                }
            }

            if (fullUrl is not null && resource is { Type: { } type, Id: { } id })
            {
                FullUrls[fullUrl] = type + "/" + id;
            }
        }
    }

    /// <summary>A resource's resourceType and id, read from its top level while the rest is skipped.</summary>
    private sealed record ResourceOutline(string? Type, string? Id)
    {
        public static ResourceOutline Scan(JsonStreamReader json, Stu3Evidence stu3)
        {
            var depth = json.CurrentDepth;
            string? type = null;
            string? id = null;
            string? fhirVersion = null;
            List<(string Name, bool IsString)>? candidates = null;
            while (json.Read() && !(json.TokenType == JsonTokenType.EndObject && json.CurrentDepth == depth))
            {
                if (json.ValueTextEquals("resourceType"u8))
                {
                    type = ReadString(json);
                }
                else if (json.ValueTextEquals("id"u8))
                {
                    id = ReadString(json);
                }
                else if (json.ValueTextEquals("fhirVersion"u8))
                {
                    fhirVersion = ReadString(json);
                }
                else if (json.ValueTextEquals("meta"u8))
                {
                    ScanMeta(json, stu3);
                }
                else if (!json.ValueIsEscaped && Stu3Signatures.IsCandidate(json.RawValue))
                {
                    var name = json.GetString();
                    json.Read();
                    (candidates ??= []).Add((name, json.TokenType == JsonTokenType.String));
                    json.Skip();
                }
                else
                {
                    json.Skip();
                }
            }

            if (type is not null)
            {
                stu3.Add(Stu3Signatures.ForType(type));
                foreach (var (name, isString) in candidates ?? [])
                {
                    stu3.Add(Stu3Signatures.ForElement(type, name, isString));
                }
            }

            if (fhirVersion is not null)
            {
                stu3.Add(Stu3Signatures.ForFhirVersion(fhirVersion));
            }

            return new ResourceOutline(type, id);
        }

        private static void ScanMeta(JsonStreamReader json, Stu3Evidence stu3)
        {
            if (!json.Read() || json.TokenType != JsonTokenType.StartObject)
            {
                json.Skip();
                return;
            }

            var depth = json.CurrentDepth;
            while (json.Read() && !(json.TokenType == JsonTokenType.EndObject && json.CurrentDepth == depth))
            {
                if (json.ValueTextEquals("profile"u8) && ReadValueIs(json, JsonTokenType.StartArray))
                {
                    while (json.Read() && json.TokenType != JsonTokenType.EndArray)
                    {
                        if (json.TokenType == JsonTokenType.String)
                        {
                            stu3.Add(TryGetString(json) is { } profile ? Stu3Signatures.ForProfile(profile) : null);
                        }
                        else
                        {
                            json.Skip();
                        }
                    }
                }
                else
                {
                    json.Skip();
                }
            }
        }
    }

    /// <summary>
    /// After a property name: reads the value and returns true when it starts with <paramref name="expected"/>; otherwise
    /// skips it whole and returns false (the reader then rests on a primitive or an end token, where Skip does nothing).
    /// </summary>
    private static bool ReadValueIs(JsonStreamReader json, JsonTokenType expected)
    {
        if (!json.Read())
        {
            return false;
        }

        if (json.TokenType == expected)
        {
            return true;
        }

        json.Skip();
        return false;
    }

    /// <summary>After a property name: its value when it is a valid UTF-8 string, else null (the value is skipped).</summary>
    private static string? ReadString(JsonStreamReader json)
    {
        if (!json.Read())
        {
            return null;
        }

        if (json.TokenType != JsonTokenType.String)
        {
            json.Skip();
            return null;
        }

        return TryGetString(json);
    }

    private static string? TryGetString(JsonStreamReader json)
    {
        try
        {
            return json.GetString() is { Length: > 0 } text ? text : null;
        }
        catch (InvalidOperationException)
        {
            // Not valid UTF-8: the entry's own record reports it.
            return null;
        }
    }

    /// <summary>The second pass: one record per bundle entry (or one for a single-resource file).</summary>
    private sealed class EntryReader(FhirBundleSource source, string file, string name, BundleOutline outline) : IDisposable
    {
        private readonly JsonStreamReader _json = new(SourceFiles.OpenSequential(file));
        private bool _started;
        private bool _inEntries;
        private bool _done;
        private int _index = -1;

        public SourceRecord? Next()
        {
            if (_done)
            {
                return null;
            }

            if (!_started)
            {
                _started = true;
                _json.Read();
                if (!outline.IsBundle)
                {
                    _done = true;
                    return Capture(name);
                }
            }

            while (true)
            {
                if (!_inEntries)
                {
                    if (!_json.Read() || _json.TokenType != JsonTokenType.PropertyName)
                    {
                        _done = true;
                        return null;
                    }

                    if (_json.ValueTextEquals("entry"u8) && ReadValueIs(_json, JsonTokenType.StartArray))
                    {
                        _inEntries = true;
                    }
                    else
                    {
                        _json.Skip();
                    }

                    continue;
                }

                if (!_json.Read() || _json.TokenType == JsonTokenType.EndArray)
                {
                    _inEntries = false;
                    continue;
                }

                _index++;
                var position = $"{name}, entry[{_index}]";
                if (_json.TokenType != JsonTokenType.StartObject)
                {
                    var kind = _json.TokenType;
                    _json.Skip();
                    return new SourceRecord(position, null, $"{position} is a {kind}, not an object: it {QuarantineCategory.NoResourcePhrase}");
                }

                return ReadEntry(position);
            }
        }

        public void Stop() => _done = true;

        public void Dispose() => _json.Dispose();

        private SourceRecord ReadEntry(string position)
        {
            var depth = _json.CurrentDepth;
            SourceRecord? record = null;
            string? method = null;
            while (_json.Read() && !(_json.TokenType == JsonTokenType.EndObject && _json.CurrentDepth == depth))
            {
                if (_json.ValueTextEquals("resource"u8) && _json.Read())
                {
                    if (_json.TokenType == JsonTokenType.StartObject)
                    {
                        record = Capture(position);
                    }
                    else
                    {
                        var kind = _json.TokenType;
                        _json.Skip();
                        record = new SourceRecord(position, null, $"{position}: its resource is a {kind}, not an object: it {QuarantineCategory.NoResourcePhrase}");
                    }
                }
                else if (_json.ValueTextEquals("request"u8))
                {
                    method = ReadRequestMethod();
                }
                else
                {
                    _json.Skip();
                }
            }

            return record ?? new SourceRecord(
                position,
                null,
                method is null
                    ? $"{position} {QuarantineCategory.NoResourcePhrase}"
                    : $"{position} {QuarantineCategory.NoResourcePhrase} (request {method}; the station stores resources, it does not replay requests)");
        }

        /// <summary>At the resource's start: the record for it, read whole unless over the size limit.</summary>
        private SourceRecord Capture(string position)
        {
            var offset = _json.TokenOffset;
            if (!_json.TryCapture(source.MaxResourceBytes, source.ExcerptBytes, out var value, out var excerpt, out var size))
            {
                return new SourceRecord(
                    position,
                    QuarantineCategory.Lossy(excerpt),
                    QuarantineCategory.WithExcerpt(
                        $"{position} is {QuarantineCategory.Bytes(size)} bytes, {QuarantineCategory.TooLargePhrase} {QuarantineCategory.Bytes(source.MaxResourceBytes)} bytes for one resource",
                        excerpt.Length,
                        size));
            }

            var span = value.Span;
            if (QuarantineCategory.CheckUtf8(span, position, offset) is { } notUtf8)
            {
                var kept = Math.Min(span.Length, source.ExcerptBytes);
                return new SourceRecord(position, QuarantineCategory.Lossy(span[..kept]), QuarantineCategory.WithExcerpt(notUtf8, kept, span.Length));
            }

            if (outline.Stu3.Any)
            {
                return new SourceRecord(
                    position,
                    Encoding.UTF8.GetString(span),
                    $"{position}: {QuarantineCategory.Stu3Phrase}, not R4: its bundle holds {outline.Stu3.Describe()}; no entry of an STU3 bundle is ingested as R4");
            }

            var row = source._rewriter.Rewrite(value, outline.FullUrls, "");
            return new SourceRecord(position, row?.Json ?? Encoding.UTF8.GetString(span), null);
        }

        private string? ReadRequestMethod()
        {
            if (!_json.Read() || _json.TokenType != JsonTokenType.StartObject)
            {
                _json.Skip();
                return null;
            }

            string? method = null;
            string? url = null;
            var depth = _json.CurrentDepth;
            while (_json.Read() && !(_json.TokenType == JsonTokenType.EndObject && _json.CurrentDepth == depth))
            {
                if (_json.ValueTextEquals("method"u8))
                {
                    method = ReadString(_json);
                }
                else if (_json.ValueTextEquals("url"u8))
                {
                    url = ReadString(_json);
                }
                else
                {
                    _json.Skip();
                }
            }

            return method is null ? null : url is null ? method : $"{method} {url}";
        }
    }
}
