using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Jobs;

/// <summary>Checks what a train left in <c>/output</c>: only declared files, within the size cap, matching the manifest.</summary>
public static class OutputCollector
{
    private const int ListedAtMost = 10;

    /// <summary>The statistics a statistics train produced; anything undeclared or malformed fails the job.</summary>
    public static StatisticsResult CollectStatistics(string outputDir, TrainManifest manifest, long maxBytes)
    {
        var root = new DirectoryInfo(outputDir);
        var entries = root.EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).ToList();
        var notRegular = entries.Where(e => e.LinkTarget is not null || (e is not FileInfo && e is not DirectoryInfo)).ToList();
        if (notRegular.Count > 0)
            throw new JobFailedException("collect", $"the train left links or special files in /output: {List(notRegular, root)}");
        var files = entries.OfType<FileInfo>().ToList();
        var total = files.Sum(f => f.Length);
        if (total > maxBytes)
            throw new JobFailedException("collect", $"the train wrote {total} bytes to /output, over the station's cap of {maxBytes}");
        var undeclared = files.Where(f => Relative(f, root) != StatisticsResult.FileName).ToList();
        var strayDirs = entries.OfType<DirectoryInfo>().ToList();
        if (undeclared.Count > 0 || strayDirs.Count > 0)
            throw new JobFailedException("collect", $"the train wrote undeclared output: {List([.. undeclared, .. strayDirs], root)}; only {StatisticsResult.FileName} is allowed for a statistics train");
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

    private static string Relative(FileSystemInfo f, DirectoryInfo root) => Path.GetRelativePath(root.FullName, f.FullName);

    private static string List(IReadOnlyCollection<FileSystemInfo> items, DirectoryInfo root)
    {
        var names = items.Take(ListedAtMost).Select(i => Relative(i, root));
        return string.Join(", ", names) + (items.Count > ListedAtMost ? $" and {items.Count - ListedAtMost} more" : "");
    }
}
