namespace HealthTrain.Station.Ingestion;

/// <summary>
/// A source that reads its input path as an ordered list of files, one after another. The pipeline then records its
/// progress per file, and a resumed run skips finished files without opening them.
/// </summary>
public interface IFileFhirSource : IFhirSource
{
    /// <summary>The files <paramref name="path"/> (a file or a folder) stands for, in reading order.</summary>
    /// <exception cref="FileNotFoundException">Nothing exists at <paramref name="path"/>.</exception>
    IReadOnlyList<string> ListFiles(string path);

    /// <summary>The records of one of <see cref="ListFiles"/>'s files; positions are relative to <paramref name="path"/>.</summary>
    IEnumerable<SourceRecord> ReadFile(string path, string file, CancellationToken cancellationToken);
}

/// <summary>
/// A source whose resources are also known by URLs other than <c>Type/id</c> (a bundle entry's <c>fullUrl</c>, e.g.
/// <c>urn:uuid:…</c>) that references in other files may use, as Synthea's patient bundles do for the organizations
/// and practitioners in their own files. The pipeline keeps these aliases so such references resolve at the end of the run.
/// </summary>
public interface IFullUrlSource
{
    /// <summary>Called with (fullUrl, <c>Type/id</c>) for every alias, before the first record that could refer to it is yielded.</summary>
    Action<string, string>? FullUrlFound { get; set; }
}

/// <summary>A source that frames records itself and can refuse oversized ones before buffering them.</summary>
public interface ISizeLimitedSource
{
    /// <summary>Records larger than this many bytes are reported as errors (with only their beginning kept) instead of being read whole.</summary>
    int MaxResourceBytes { get; set; }
}

/// <summary>Lists a source's input files.</summary>
internal static class SourceFiles
{
    /// <summary><paramref name="path"/> itself when it is a file, else every file under it ending in one of <paramref name="extensions"/>, in ordinal order.</summary>
    public static IReadOnlyList<string> List(string path, params string[] extensions)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full))
        {
            return [full];
        }

        if (!Directory.Exists(full))
        {
            throw new FileNotFoundException($"no file or folder at {path}", path);
        }

        return Directory
            .EnumerateFiles(full, "*", new EnumerationOptions { RecurseSubdirectories = true })
            .Where(f => extensions.Any(e => f.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            .Order(StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>How positions name <paramref name="file"/>: relative to the folder <paramref name="path"/>, or its file name.</summary>
    public static string Display(string path, string file)
    {
        var root = Path.GetFullPath(path);
        return Directory.Exists(root) ? Path.GetRelativePath(root, file) : Path.GetFileName(file);
    }

    /// <summary>Opens for one sequential read.</summary>
    public static FileStream OpenSequential(string file) =>
        new(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);

    /// <summary>The first <paramref name="count"/> bytes of the file, decoded for the quarantine (invalid UTF-8 replaced).</summary>
    public static string Head(string file, int count)
    {
        try
        {
            using var stream = OpenSequential(file);
            var buffer = new byte[(int)Math.Min(count, Math.Max(0, stream.Length))];
            var read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            return QuarantineCategory.Lossy(buffer.AsSpan(0, read));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
