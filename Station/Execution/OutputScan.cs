namespace HealthTrain.Station.Execution;

/// <summary>One entry a train left under <c>/output</c>, by its path relative to the output folder.</summary>
public sealed record OutputEntry(string RelativePath, UnixFileStatus Status);

/// <summary>
/// What is under a train's output folder: every entry with its real type, never following a symbolic link
/// (a link to <c>/</c> must not walk the host), and never more than a bound, so a million files cannot stall the station.
/// </summary>
public sealed record OutputScan(IReadOnlyList<OutputEntry> Entries, bool MoreThanLimit)
{
    /// <summary>Total bytes of the regular files seen.</summary>
    public long Bytes => Entries.Where(e => e.Status.Kind == UnixFileKind.Regular).Sum(e => e.Status.Bytes);

    /// <summary>
    /// Walks <paramref name="outputDir"/>; stops once it has seen more than <paramref name="maxEntries"/> entries
    /// (<see cref="MoreThanLimit"/>). Entries removed during the walk are skipped: the train may still be running.
    /// </summary>
    /// <exception cref="IOException">A folder or entry could not be read, e.g. a folder the train made unreadable.</exception>
    public static OutputScan Of(string outputDir, int maxEntries)
    {
        var root = Path.GetFullPath(outputDir);
        var entries = new List<OutputEntry>();
        var folders = new Stack<string>();
        folders.Push(root);
        while (folders.Count > 0)
        {
            var folder = folders.Pop();
            IEnumerable<string> names;
            try
            {
                names = Directory.EnumerateFileSystemEntries(folder, "*", new EnumerationOptions
                {
                    RecurseSubdirectories = false, AttributesToSkip = 0, IgnoreInaccessible = false, MatchType = MatchType.Win32,
                });
                foreach (var path in names)
                {
                    if (UnixFileStatus.Of(path) is not { } status) continue;
                    entries.Add(new OutputEntry(Path.GetRelativePath(root, path), status));
                    if (entries.Count > maxEntries) return new OutputScan(entries, MoreThanLimit: true);
                    if (status.Kind == UnixFileKind.Directory) folders.Push(path);
                }
            }
            catch (DirectoryNotFoundException) when (folder != root)
            {
                // Removed by the train while we looked.
            }
            catch (UnauthorizedAccessException e)
            {
                throw new IOException($"cannot read {Path.GetRelativePath(root, folder)}: {e.Message}", e);
            }
        }
        return new OutputScan(entries, MoreThanLimit: false);
    }
}
