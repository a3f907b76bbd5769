namespace HealthTrain.Station.Fhir;

/// <summary>Outcome of loading a folder of FHIR files into the store.</summary>
/// <param name="FilesLoaded">Files parsed and committed in this run.</param>
/// <param name="FilesSkippedUnchanged">Files skipped because their SHA-256 matches an earlier successful load.</param>
/// <param name="RejectedFiles">Files not loaded at all (invalid JSON, unreadable), each with the reason.</param>
/// <param name="ResourcesByType">Resources upserted in this run, per resource type.</param>
/// <param name="RejectedResources">Resources skipped inside loaded files (no resourceType, no id, entry without resource).</param>
/// <param name="BytesLoaded">Total size of the files loaded in this run.</param>
/// <param name="Elapsed">Wall-clock time of the whole run, including skipped and rejected files.</param>
public sealed record FhirLoadReport(
    int FilesLoaded,
    int FilesSkippedUnchanged,
    IReadOnlyList<FhirRejectedFile> RejectedFiles,
    IReadOnlyDictionary<string, long> ResourcesByType,
    IReadOnlyList<FhirRejectedResource> RejectedResources,
    long BytesLoaded,
    TimeSpan Elapsed)
{
    /// <summary>Total resources upserted in this run.</summary>
    public long ResourcesLoaded => ResourcesByType.Values.Sum();

    /// <summary>One line for logs.</summary>
    public override string ToString() =>
        $"{FilesLoaded} files loaded ({BytesLoaded / 1e6:F1} MB, {ResourcesLoaded} resources), {FilesSkippedUnchanged} unchanged, "
        + $"{RejectedFiles.Count} files and {RejectedResources.Count} resources rejected, in {Elapsed.TotalSeconds:F1} s";
}

/// <summary>A file the loader refused as a whole; nothing from it was written.</summary>
/// <param name="Path">Full path of the file.</param>
/// <param name="Reason">File name and what was wrong, e.g. the JSON parse error with line and byte position.</param>
public sealed record FhirRejectedFile(string Path, string Reason);

/// <summary>A resource the loader skipped inside an otherwise loaded file.</summary>
/// <param name="Path">Full path of the file.</param>
/// <param name="Location">Where in the file, e.g. <c>entry[12]</c> or <c>line 7</c>.</param>
/// <param name="Reason">Why it was skipped.</param>
public sealed record FhirRejectedResource(string Path, string Location, string Reason);
