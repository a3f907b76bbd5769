using System.IO.Compression;

namespace HealthTrain.Station.Mapping;

/// <summary>The files of an export: a folder (its top level) or a .zip (any depth, without macOS <c>__MACOSX/</c> and <c>._*</c> entries).</summary>
internal abstract class ExportContainer : IDisposable
{
    public static ExportContainer Open(string path)
    {
        if (Directory.Exists(path))
        {
            return new FolderContainer(path);
        }

        if (File.Exists(path))
        {
            return new ZipContainer(path);
        }

        throw new FileNotFoundException($"'{path}' is neither a folder nor a file", path);
    }

    /// <summary>Finds a file by name (its last path segment); throws when the name matches more than one file.</summary>
    public string? Find(string fileName, bool caseSensitive)
    {
        var comparison = caseSensitive ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase;
        var matches = Names.Where(n => string.Equals(LastSegment(n), fileName, comparison)).ToList();
        return matches.Count switch
        {
            0 => null,
            1 => matches[0],
            _ => throw new IOException($"'{fileName}' matches more than one file: {string.Join(", ", matches)}"),
        };
    }

    /// <summary>The names of the files, relative to the container.</summary>
    public abstract IReadOnlyList<string> Names { get; }

    /// <summary>Opens a file for sequential reading.</summary>
    public abstract Stream OpenFile(string name);

    public virtual void Dispose()
    {
    }

    private static string LastSegment(string name)
    {
        var slash = name.LastIndexOfAny(['/', '\\']);
        return slash < 0 ? name : name[(slash + 1)..];
    }

    private sealed class FolderContainer(string folder) : ExportContainer
    {
        public override IReadOnlyList<string> Names { get; } =
            Directory.EnumerateFiles(folder).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal).ToList();

        public override Stream OpenFile(string name) =>
            new FileStream(Path.Combine(folder, name), FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
    }

    private sealed class ZipContainer : ExportContainer
    {
        private readonly ZipArchive _archive;
        private readonly Dictionary<string, ZipArchiveEntry> _entries = new(StringComparer.Ordinal);

        public ZipContainer(string path)
        {
            try
            {
                _archive = ZipFile.OpenRead(path);
            }
            catch (InvalidDataException ex)
            {
                throw new IOException($"'{Path.GetFileName(path)}' is not a zip archive: {ex.Message}", ex);
            }

            foreach (var entry in _archive.Entries)
            {
                var name = entry.FullName;
                if (name.EndsWith('/') || name.StartsWith("__MACOSX/", StringComparison.Ordinal) || entry.Name.StartsWith("._", StringComparison.Ordinal))
                {
                    continue;
                }

                _entries[name] = entry;
            }

            Names = _entries.Keys.Order(StringComparer.Ordinal).ToList();
        }

        public override IReadOnlyList<string> Names { get; }

        public override Stream OpenFile(string name) => _entries[name].Open();

        public override void Dispose() => _archive.Dispose();
    }
}
