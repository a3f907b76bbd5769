using HealthTrain.Station.Execution;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Jobs;

/// <summary>Checks what a train left in <c>/output</c>: only declared plain files, within the size and count caps, matching the manifest.</summary>
public static class OutputCollector
{
    private const int ListedAtMost = 10;

    /// <summary>Most entries a train may leave in <c>/output</c> unless the station says otherwise.</summary>
    public const int DefaultMaxEntries = 1000;

    /// <summary>The statistics a statistics train produced; anything undeclared or malformed fails the job.</summary>
    public static StatisticsResult CollectStatistics(string outputDir, TrainManifest manifest, long maxBytes, int maxEntries = DefaultMaxEntries)
    {
        OutputScan scan;
        try
        {
            scan = OutputScan.Of(outputDir, maxEntries);
        }
        catch (IOException e)
        {
            throw new JobFailedException("collect", $"the train's /output could not be inspected: {e.Message}");
        }
        if (scan.MoreThanLimit)
            throw new JobFailedException("collect", $"the train left more than the station's limit of {maxEntries} files and folders in /output");
        // Only plain files and folders: a link could point the station at its own files, a named pipe would block the read.
        var notRegular = scan.Entries.Where(e => e.Status.Kind is not (UnixFileKind.Regular or UnixFileKind.Directory)).ToList();
        if (notRegular.Count > 0)
            throw new JobFailedException("collect", $"the train left links or special files in /output: {List(notRegular, e => $"{e.RelativePath} ({UnixFileStatus.Describe(e.Status.Kind)})")}");
        // A file with a second name may be shared with a file outside /output.
        var hardLinked = scan.Entries.Where(e => e.Status.Kind == UnixFileKind.Regular && e.Status.Links > 1).ToList();
        if (hardLinked.Count > 0)
            throw new JobFailedException("collect", $"the train left hard-linked files in /output: {List(hardLinked, e => $"{e.RelativePath} ({e.Status.Links} links)")}");
        var total = scan.Bytes;
        if (total > maxBytes)
            throw new JobFailedException("collect", $"the train wrote {total} bytes to /output, over the station's cap of {maxBytes}");
        var undeclared = scan.Entries.Where(e => e.RelativePath != StatisticsResult.FileName || e.Status.Kind != UnixFileKind.Regular).ToList();
        if (undeclared.Count > 0)
            throw new JobFailedException("collect", $"the train wrote undeclared output: {List(undeclared, e => e.RelativePath)}; only {StatisticsResult.FileName} is allowed for a statistics train");
        var path = Path.Combine(outputDir, StatisticsResult.FileName);
        if (!File.Exists(path))
            throw new JobFailedException("collect", $"the train exited without writing /output/{StatisticsResult.FileName}");
        string json;
        try
        {
            json = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new JobFailedException("collect", $"/output/{StatisticsResult.FileName} could not be read: {e.Message}");
        }
        var (result, errors) = StatisticsResultValidator.Parse(manifest, json);
        if (result is null)
            throw new JobFailedException("collect", $"/output/{StatisticsResult.FileName} does not match the manifest: {string.Join("; ", errors)}");
        return result;
    }

    private static string List(IReadOnlyCollection<OutputEntry> items, Func<OutputEntry, string> describe)
    {
        var names = items.OrderBy(i => i.RelativePath, StringComparer.Ordinal).Take(ListedAtMost).Select(describe);
        return string.Join(", ", names) + (items.Count > ListedAtMost ? $" and {items.Count - ListedAtMost} more" : "");
    }
}
