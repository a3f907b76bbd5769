using System.Globalization;
using System.Text;
using System.Text.Unicode;

namespace HealthTrain.Station.Ingestion;

/// <summary>Why a record was quarantined, as a short stable code; the report counts rejections per category and the quarantine table keeps the full reason beside it.</summary>
public static class QuarantineCategory
{
    /// <summary>The bytes are not valid UTF-8.</summary>
    public const string NotUtf8 = "not-utf8";

    /// <summary>The text is not valid JSON.</summary>
    public const string InvalidJson = "invalid-json";

    /// <summary>The JSON ends before it is complete (a file or last line cut off).</summary>
    public const string Truncated = "truncated";

    /// <summary>The resource is larger than the per-resource limit.</summary>
    public const string TooLarge = "too-large";

    /// <summary>The JSON is not a resource: not an object, no resourceType, or a bundle entry without a resource.</summary>
    public const string NotAResource = "not-a-resource";

    /// <summary>resourceType names no FHIR R4 resource type.</summary>
    public const string UnknownResourceType = "unknown-resource-type";

    /// <summary>The resource has no id, so it cannot be stored under a stable key.</summary>
    public const string MissingId = "missing-id";

    /// <summary>The resource (or its bundle) looks like FHIR STU3, not R4.</summary>
    public const string FhirStu3 = "fhir-stu3";

    /// <summary>The Firely SDK's strict R4 parser rejected the resource (wrong types, unknown elements, invalid codes or literals).</summary>
    public const string InvalidFhirR4 = "invalid-fhir-r4";

    /// <summary>A reference that can never resolve: malformed, or a urn:uuid/urn:oid no ingested bundle entry defines.</summary>
    public const string BrokenReference = "broken-reference";

    /// <summary>A well-formed Type/id reference to a resource not in the store at the end of the run (only with <see cref="DanglingReferencePolicy.Quarantine"/>).</summary>
    public const string DanglingReference = "dangling-reference";

    /// <summary>Any other problem a source reported (an unreadable file, a row a mapping could not convert).</summary>
    public const string SourceError = "source-error";

    // Phrases the built-in sources put in SourceRecord.Error; Classify maps them back to a category.
    internal const string NotUtf8Phrase = "is not valid UTF-8";
    internal const string InvalidJsonPhrase = "is not valid JSON";
    internal const string TruncatedPhrase = "truncated:";
    internal const string TooLargePhrase = "over the limit of";
    internal const string NoResourcePhrase = "has no resource";
    internal const string Stu3Phrase = "looks like FHIR STU3";

    /// <summary>The category of a source's error message (sources outside this folder get <see cref="SourceError"/> unless they use the same phrases).</summary>
    public static string Classify(string error)
    {
        ArgumentNullException.ThrowIfNull(error);
        if (error.Contains(TruncatedPhrase, StringComparison.Ordinal)) return Truncated;
        if (error.Contains(NotUtf8Phrase, StringComparison.Ordinal)) return NotUtf8;
        if (error.Contains(InvalidJsonPhrase, StringComparison.Ordinal)) return InvalidJson;
        if (error.Contains(TooLargePhrase, StringComparison.Ordinal)) return TooLarge;
        if (error.Contains(Stu3Phrase, StringComparison.Ordinal)) return FhirStu3;
        if (error.Contains(NoResourcePhrase, StringComparison.Ordinal)) return NotAResource;
        return SourceError;
    }

    /// <summary>
    /// Appends to a source's error that its record text holds only the first <paramref name="keptBytes"/> of
    /// <paramref name="totalBytes"/> bytes, so the quarantine records the true size (<see cref="ExcerptSize"/> reads it back).
    /// </summary>
    internal static string WithExcerpt(string error, long keptBytes, long totalBytes) =>
        keptBytes >= totalBytes ? error : $"{error} (kept: the first {Bytes(keptBytes)} of {Bytes(totalBytes)} bytes)";

    /// <summary>The whole record's size from a <see cref="WithExcerpt"/> note, or null.</summary>
    internal static long? ExcerptSize(string error)
    {
        var match = System.Text.RegularExpressions.Regex.Match(error, @"\(kept: the first [\d,]+ of ([\d,]+) bytes\)$");
        return match.Success ? long.Parse(match.Groups[1].Value, NumberStyles.AllowThousands, CultureInfo.InvariantCulture) : null;
    }

    /// <summary>"… is not valid UTF-8 (byte 0xFF at offset 12)" for <paramref name="bytes"/>, or null when they are valid.</summary>
    internal static string? CheckUtf8(ReadOnlySpan<byte> bytes, string what, long baseOffset = 0)
    {
        if (Utf8.IsValid(bytes))
        {
            return null;
        }

        var index = 0;
        while (index < bytes.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[index..], out _, out var consumed) != System.Buffers.OperationStatus.Done)
            {
                break;
            }

            index += consumed;
        }

        var bad = index < bytes.Length ? $"0x{bytes[index]:X2}" : "an incomplete sequence";
        return $"{what} {NotUtf8Phrase} ({bad} at byte {(baseOffset + index).ToString("N0", CultureInfo.InvariantCulture)})";
    }

    /// <summary>Decodes for display in the quarantine, replacing invalid UTF-8 with U+FFFD.</summary>
    internal static string Lossy(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    /// <summary>A byte count with thousands separators.</summary>
    internal static string Bytes(long count) => count.ToString("N0", CultureInfo.InvariantCulture);
}

/// <summary>What the end of a run does with a well-formed <c>Type/id</c> reference whose target is not in the store.</summary>
public enum DanglingReferencePolicy
{
    /// <summary>Keep the resource and report the reference (FHIR allows references to resources held elsewhere; a later run may bring the target).</summary>
    Keep,

    /// <summary>Move the resource to the quarantine as <see cref="QuarantineCategory.DanglingReference"/>.</summary>
    Quarantine,
}
