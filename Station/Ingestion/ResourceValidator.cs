using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using HealthTrain.Station.Fhir;
using Hl7.Fhir.Model;
using Hl7.Fhir.Serialization;

namespace HealthTrain.Station.Ingestion;

/// <summary>A reference found in an accepted resource that the writer must check against the store.</summary>
/// <param name="Path">Where in the resource, e.g. <c>Encounter.serviceProvider</c>.</param>
/// <param name="Reference">The reference as written.</param>
/// <param name="TypeAndId">The <c>Type/id</c> it names, or null when it needs resolving first (<c>urn:uuid:…</c>, conditional).</param>
internal readonly record struct FoundReference(string Path, string Reference, string? TypeAndId);

/// <summary>What validation made of one source record: a store row with the references to check, or a quarantine entry.</summary>
internal sealed class ValidatedRecord
{
    public required string Position { get; init; }

    public FhirResourceRow Row { get; init; }

    public List<FoundReference>? References { get; init; }

    public int ReferencesNotChecked { get; init; }

    public string? Category { get; init; }

    public string? Reason { get; init; }

    public string? Raw { get; init; }

    public long RawBytes { get; init; }

    public string? ResourceType { get; init; }

    public string? ResourceId { get; init; }

    public bool Accepted => Category is null;
}

/// <summary>
/// Validates one record at a time: UTF-8, JSON, a known R4 resource type, an id, the Firely SDK's strict R4 parse (STU3
/// recognised and named as such), well-formed references; builds the store row with the loader's <see cref="FhirDocumentReader"/>.
/// </summary>
/// <remarks>Not thread-safe: each pipeline worker has its own.</remarks>
internal sealed partial class ResourceValidator(FhirIngestionOptions options, string defaultLastUpdated)
{
    private const int MaxIssuesInReason = 3;
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };

    private readonly FhirJsonDeserializer _deserializer = new(new DeserializerSettings().UsingMode(DeserializationMode.Strict));
    private readonly FhirDocumentReader _reader = new();
    private readonly List<FhirResourceRow> _rows = new(1);
    private readonly List<(string Location, string Reason)> _rejected = [];
    private readonly ArrayBufferWriter<byte> _compact = new(64 * 1024);
    private readonly Stu3Evidence _stu3 = new();
    private byte[] _bytes = new byte[64 * 1024];

    public ValidatedRecord Validate(SourceRecord record)
    {
        try
        {
            return ValidateCore(record);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // A validator bug must not stop the run or lose the record.
            return Reject(record.Position, QuarantineCategory.SourceError, $"{record.Position}: validation failed unexpectedly: {e.GetType().Name}: {e.Message}", record.ResourceJson);
        }
    }

    private ValidatedRecord ValidateCore(SourceRecord record)
    {
        var position = record.Position;
        if (record.Error is { } error)
        {
            var rejected = Reject(position, QuarantineCategory.Classify(error), error, record.ResourceJson);
            return QuarantineCategory.ExcerptSize(error) is { } size && size > rejected.RawBytes
                ? new ValidatedRecord
                {
                    Position = rejected.Position,
                    Category = rejected.Category,
                    Reason = rejected.Reason,
                    Raw = rejected.Raw,
                    RawBytes = size,
                }
                : rejected;
        }

        if (record.ResourceJson is not { } text)
        {
            return Reject(position, QuarantineCategory.SourceError, $"{position}: the source gave neither a resource nor an error", null);
        }

        var maxBytes = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (maxBytes > options.MaxResourceBytes && Encoding.UTF8.GetByteCount(text) is var exact && exact > options.MaxResourceBytes)
        {
            return Reject(
                position,
                QuarantineCategory.TooLarge,
                $"{position} is {QuarantineCategory.Bytes(exact)} bytes, {QuarantineCategory.TooLargePhrase} {QuarantineCategory.Bytes(options.MaxResourceBytes)} bytes for one resource",
                text);
        }

        if (_bytes.Length < maxBytes)
        {
            _bytes = new byte[Math.Max(maxBytes, _bytes.Length * 2)];
        }

        var length = Encoding.UTF8.GetBytes(text, _bytes);
        var json = _bytes.AsMemory(0, length);

        _stu3.Clear();
        ResourceFacts facts;
        try
        {
            facts = Scan(json.Span, _stu3);
        }
        catch (JsonException e)
        {
            return Reject(position, QuarantineCategory.InvalidJson, $"{position} {QuarantineCategory.InvalidJsonPhrase}: {TrimJsonMessage(e.Message)}", text);
        }

        if (facts.RootKind != JsonTokenType.StartObject)
        {
            return Reject(position, QuarantineCategory.NotAResource, $"{position}: the JSON is a {facts.RootKind}, not a resource", text);
        }

        if (facts.Type is not { } type)
        {
            return Reject(position, QuarantineCategory.NotAResource, $"{position}: the JSON object has no resourceType, so it is not a resource", text);
        }

        if (!ModelInfo.IsKnownResource(type) || type is "Resource" or "DomainResource")
        {
            return Stu3Signatures.ForType(type) is { } stu3Type
                ? Reject(position, QuarantineCategory.FhirStu3, $"{position} {QuarantineCategory.Stu3Phrase}, not R4: {stu3Type}", text, type, facts.Id)
                : Reject(position, QuarantineCategory.UnknownResourceType, $"{position}: unknown resource type '{type}' (not a FHIR R4 resource type)", text, type, facts.Id);
        }

        if (facts.Id is not { } id)
        {
            return Reject(position, QuarantineCategory.MissingId, $"{position}: the {type} has no id, so it cannot be stored under a stable key", text, type, null);
        }

        if (Parse(json, type, _stu3) is { } parseProblem)
        {
            return Reject(position, parseProblem.Category, $"{position}{parseProblem.Reason}", text, type, id);
        }

        var references = new List<FoundReference>(facts.References.Count);
        var notChecked = 0;
        foreach (var (path, reference) in facts.References)
        {
            switch (Classify(reference, out var typeAndId, out var problem))
            {
                case ReferenceKind.Broken:
                    return Reject(
                        position,
                        QuarantineCategory.BrokenReference,
                        $"{position}: broken reference '{reference}' at {path}: {problem}",
                        text,
                        type,
                        id);
                case ReferenceKind.NotChecked:
                    notChecked++;
                    break;
                default:
                    references.Add(new FoundReference(path, reference, typeAndId));
                    break;
            }
        }

        return new ValidatedRecord
        {
            Position = position,
            Row = BuildRow(json, text, facts, type, id),
            References = references,
            ReferencesNotChecked = notChecked,
            ResourceType = type,
            ResourceId = id,
        };
    }

    /// <summary>Strict R4 parse; null when it passes, else the category and the reason (after the position).</summary>
    private (string Category, string Reason)? Parse(ReadOnlyMemory<byte> json, string type, Stu3Evidence stu3)
    {
        IEnumerable<Hl7.Fhir.Utility.CodedException> issues;
        bool parsed;
        try
        {
            var reader = new Utf8JsonReader(json.Span, ReaderOptions);
            parsed = _deserializer.TryDeserializeResource(ref reader, out _, out issues);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return (QuarantineCategory.InvalidFhirR4, $": not valid FHIR R4: the Firely parser failed: {e.Message}");
        }

        if (parsed)
        {
            // Parses as R4, but names STU3 itself (profile, fhirVersion): held back all the same.
            return stu3.Any ? (QuarantineCategory.FhirStu3, $" {QuarantineCategory.Stu3Phrase}, not R4: {stu3.Describe()}") : null;
        }

        var list = issues.ToList();
        foreach (var issue in list)
        {
            stu3.Add(Stu3Signatures.ForParserMessage(issue.Message));
        }

        var first = string.Join("; ", list.Take(MaxIssuesInReason).Select(i => $"{i.ErrorCode}: {i.Message}"));
        var more = list.Count > MaxIssuesInReason ? $"; and {list.Count - MaxIssuesInReason} more" : "";
        if (stu3.Any)
        {
            return (QuarantineCategory.FhirStu3, $" {QuarantineCategory.Stu3Phrase}, not R4: {stu3.Describe()} (the R4 parser reports {list.Count} issue(s): {first}{more})");
        }

        return (QuarantineCategory.InvalidFhirR4, $": not valid FHIR R4 ({type}, {list.Count} issue(s)): {first}{more}");
    }

    private FhirResourceRow BuildRow(ReadOnlyMemory<byte> json, string text, ResourceFacts facts, string type, string id)
    {
        if (type == "Bundle")
        {
            // The loader's reader would unpack a Bundle into its entries; a Bundle that is itself the record is stored whole.
            using var document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
            _compact.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(_compact, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                document.RootElement.WriteTo(writer);
            }

            var lastUpdated = document.RootElement.TryGetProperty("meta", out var meta)
                && meta.ValueKind == JsonValueKind.Object
                && meta.TryGetProperty("lastUpdated", out var value)
                && value.ValueKind == JsonValueKind.String
                    ? value.GetString()!
                    : defaultLastUpdated;
            return new FhirResourceRow(type, id, lastUpdated, null, Encoding.UTF8.GetString(_compact.WrittenSpan));
        }

        if (facts.Compact)
        {
            // Already compact: the loader's reader would copy it byte for byte; take the row from the scan instead.
            var subject = facts.SubjectReference is { } s ? FhirReference.ToTypeAndId(s)
                : facts.PatientReference is { } p ? FhirReference.ToTypeAndId(p)
                : null;
            return new FhirResourceRow(type, id, facts.LastUpdated ?? defaultLastUpdated, subject, text);
        }

        _rows.Clear();
        _rejected.Clear();
        _reader.Read(json, "", defaultLastUpdated, _rows, _rejected);
        if (_rows.Count != 1)
        {
            throw new InvalidOperationException($"the store reader made {_rows.Count} rows of one resource ({string.Join("; ", _rejected.Select(r => r.Reason))})");
        }

        return _rows[0];
    }

    private enum ReferenceKind
    {
        /// <summary><c>Type/id</c>: check that the target is stored.</summary>
        Local,

        /// <summary><c>urn:uuid:</c>, <c>urn:oid:</c> or conditional: resolve at the end of the run, then check.</summary>
        Resolve,

        /// <summary>Contained (<c>#id</c>) or absolute (another server): not checked.</summary>
        NotChecked,

        /// <summary>Can never resolve.</summary>
        Broken,
    }

    private static ReferenceKind Classify(string reference, out string? typeAndId, out string problem)
    {
        typeAndId = null;
        problem = "";
        if (reference.StartsWith('#'))
        {
            return ReferenceKind.NotChecked;
        }

        if (reference.StartsWith("urn:uuid:", StringComparison.OrdinalIgnoreCase) || reference.StartsWith("urn:oid:", StringComparison.OrdinalIgnoreCase))
        {
            if (reference.Length > (reference[4] == 'u' || reference[4] == 'U' ? 9 : 8))
            {
                return ReferenceKind.Resolve;
            }

            problem = "the URN is empty";
            return ReferenceKind.Broken;
        }

        if (reference.Contains("://", StringComparison.Ordinal))
        {
            if (Uri.TryCreate(reference, UriKind.Absolute, out _))
            {
                return ReferenceKind.NotChecked;
            }

            problem = "not a valid absolute URL";
            return ReferenceKind.Broken;
        }

        var query = reference.IndexOf('?');
        if (query >= 0)
        {
            var conditionalType = reference[..query];
            if (ModelInfo.IsKnownResource(conditionalType) && query < reference.Length - 1)
            {
                return ReferenceKind.Resolve;
            }

            problem = $"a conditional reference needs an R4 resource type and a query ('{conditionalType}?…')";
            return ReferenceKind.Broken;
        }

        var local = FhirReference.ToTypeAndId(reference);
        if (local is null)
        {
            problem = "not a Type/id reference";
            return ReferenceKind.Broken;
        }

        var slash = local.IndexOf('/');
        var type = local[..slash];
        var id = local[(slash + 1)..];
        if (!ModelInfo.IsKnownResource(type))
        {
            problem = $"'{type}' is not a FHIR R4 resource type";
            return ReferenceKind.Broken;
        }

        if (!IdPattern().IsMatch(id))
        {
            problem = $"'{id}' is not a valid FHIR id";
            return ReferenceKind.Broken;
        }

        typeAndId = local;
        return ReferenceKind.Local;
    }

    [GeneratedRegex("^[A-Za-z0-9\\-\\.]{1,64}$")]
    private static partial Regex IdPattern();

    private ValidatedRecord Reject(string position, string category, string reason, string? raw, string? type = null, string? id = null)
    {
        var rawBytes = raw is null ? 0 : Encoding.UTF8.GetByteCount(raw);
        return new ValidatedRecord
        {
            Position = position,
            Category = category,
            Reason = reason,
            Raw = raw is null ? null : Truncate(raw, options.QuarantineTextBytes),
            RawBytes = rawBytes,
            ResourceType = type,
            ResourceId = id,
        };
    }

    /// <summary>The longest prefix of <paramref name="text"/> within <paramref name="maxBytes"/> UTF-8 bytes (approximately: 1 char ≤ 3 bytes).</summary>
    private static string Truncate(string text, int maxBytes)
    {
        if (text.Length * 3L <= maxBytes || Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }

        var chars = Math.Min(text.Length, maxBytes / 3);
        if (chars > 0 && char.IsHighSurrogate(text[chars - 1]))
        {
            chars--;
        }

        return text[..chars];
    }

    private static string TrimJsonMessage(string message)
    {
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] + " (" + message[(cut + 1)..].Trim() + ")" : message;
    }

    /// <summary>What one pass over a resource's JSON finds.</summary>
    private sealed class ResourceFacts
    {
        public JsonTokenType RootKind { get; set; }

        public string? Type { get; set; }

        public string? Id { get; set; }

        public List<(string Path, string Reference)> References { get; } = [];

        /// <summary>No whitespace between tokens and no escaped property names: the text is already what the store keeps.</summary>
        public bool Compact { get; set; } = true;

        /// <summary>meta.lastUpdated, when a non-empty string.</summary>
        public string? LastUpdated { get; set; }

        /// <summary>subject.reference, when a non-empty string.</summary>
        public string? SubjectReference { get; set; }

        /// <summary>patient.reference, when a non-empty string.</summary>
        public string? PatientReference { get; set; }
    }

    /// <summary>
    /// One pass: root kind, resourceType, id, references with their paths, STU3 marks (profiles, fhirVersion, STU3-only
    /// elements), and what the store row needs when the text is already compact (meta.lastUpdated, subject or patient).
    /// </summary>
    private static ResourceFacts Scan(ReadOnlySpan<byte> json, Stu3Evidence stu3)
    {
        var facts = new ResourceFacts();
        var reader = new Utf8JsonReader(json, ReaderOptions);
        if (!reader.Read())
        {
            throw new JsonException("the text is empty");
        }

        facts.RootKind = reader.TokenType;
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            return facts;
        }

        // Property names by depth, as (offset, length) into json; depth 1 is the resource's top level.
        Span<(int Start, int Length)> names = stackalloc (int, int)[ReaderOptions.MaxDepth + 2];
        var afterProperty = false;
        var consumed = (int)reader.BytesConsumed;
        string? fhirVersion = null;
        List<(string Name, bool IsString)>? candidates = null;
        while (reader.Read())
        {
            var token = reader.TokenType;
            var start = (int)reader.TokenStartIndex;
            if (facts.Compact && start > consumed && !OnlySeparators(json[consumed..start]))
            {
                facts.Compact = false;
            }

            consumed = (int)reader.BytesConsumed;
            if (token == JsonTokenType.PropertyName)
            {
                names[reader.CurrentDepth] = (start + 1, reader.ValueSpan.Length);
                if (reader.ValueIsEscaped)
                {
                    facts.Compact = false;
                }

                afterProperty = true;
                continue;
            }

            var isValue = afterProperty;
            afterProperty = false;
            var depth = reader.CurrentDepth;
            if (token == JsonTokenType.StartArray)
            {
                // Array items have no name: the path skips this level.
                names[depth + 1] = (-1, 0);
            }

            if (isValue && depth == 1)
            {
                var name = json.Slice(names[1].Start, names[1].Length);
                if (token == JsonTokenType.String)
                {
                    if (name.SequenceEqual("resourceType"u8))
                    {
                        facts.Type = NonEmpty(reader.GetString());
                        continue;
                    }

                    if (name.SequenceEqual("id"u8))
                    {
                        facts.Id = NonEmpty(reader.GetString());
                        continue;
                    }

                    if (name.SequenceEqual("fhirVersion"u8))
                    {
                        fhirVersion = reader.GetString();
                        continue;
                    }
                }

                if (Stu3Signatures.IsCandidate(name))
                {
                    (candidates ??= []).Add((Encoding.UTF8.GetString(name), token == JsonTokenType.String));
                }

                continue;
            }

            if (token != JsonTokenType.String)
            {
                continue;
            }

            if (isValue && json.Slice(names[depth].Start, names[depth].Length).SequenceEqual("reference"u8))
            {
                var reference = reader.GetString()!;
                facts.References.Add((PathOf(json, names, depth), reference));
                if (depth == 2 && reference.Length > 0)
                {
                    var holder = json.Slice(names[1].Start, names[1].Length);
                    if (holder.SequenceEqual("subject"u8))
                    {
                        facts.SubjectReference = reference;
                    }
                    else if (holder.SequenceEqual("patient"u8))
                    {
                        facts.PatientReference = reference;
                    }
                }
            }
            else if (isValue
                && depth == 2
                && json.Slice(names[2].Start, names[2].Length).SequenceEqual("lastUpdated"u8)
                && json.Slice(names[1].Start, names[1].Length).SequenceEqual("meta"u8))
            {
                facts.LastUpdated = NonEmpty(reader.GetString());
            }
            else if (!isValue
                && depth == 3
                && json.Slice(names[1].Start, names[1].Length).SequenceEqual("meta"u8)
                && json.Slice(names[2].Start, names[2].Length).SequenceEqual("profile"u8))
            {
                stu3.Add(Stu3Signatures.ForProfile(reader.GetString()!));
            }
        }

        if (facts.Type is { } type)
        {
            foreach (var (name, isString) in candidates ?? [])
            {
                stu3.Add(Stu3Signatures.ForElement(type, name, isString));
            }

            for (var i = 0; i < facts.References.Count; i++)
            {
                facts.References[i] = (type + "." + facts.References[i].Path, facts.References[i].Reference);
            }
        }

        if (fhirVersion is not null)
        {
            stu3.Add(Stu3Signatures.ForFhirVersion(fhirVersion));
        }

        // Trailing whitespace also makes the text not compact.
        if (facts.Compact && consumed < json.Length)
        {
            facts.Compact = false;
        }

        return facts;
    }

    private static bool OnlySeparators(ReadOnlySpan<byte> gap)
    {
        foreach (var b in gap)
        {
            if (b is not ((byte)',' or (byte)':'))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The dotted element path of the <c>reference</c> property at <paramref name="depth"/> (without it).</summary>
    private static string PathOf(ReadOnlySpan<byte> json, ReadOnlySpan<(int Start, int Length)> names, int depth)
    {
        var builder = new StringBuilder();
        for (var d = 1; d < depth; d++)
        {
            if (names[d].Start < 0)
            {
                continue;
            }

            if (builder.Length > 0)
            {
                builder.Append('.');
            }

            builder.Append(Encoding.UTF8.GetString(json.Slice(names[d].Start, names[d].Length)));
        }

        return builder.ToString();
    }

    private static string? NonEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;
}
