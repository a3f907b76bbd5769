using HealthTrain.Station.Execution;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

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
        CheckEntries(outputDir, maxBytes, maxEntries, [StatisticsResult.FileName], "a statistics train");
        return ReadStatistics(outputDir, manifest);
    }

    /// <summary>
    /// What a training train produced: its update (checked against the declared tensors: names, shapes, dtypes, finite
    /// values, nothing else), its sample count and metrics, and its statistics when it declares any.
    /// </summary>
    public static TrainingOutput CollectTraining(string outputDir, TrainManifest manifest, long maxBytes, int maxEntries = DefaultMaxEntries)
    {
        string[] allowed = manifest.Outputs.Statistics.Count > 0
            ? [TrainingOutput.UpdateFileName, TrainingOutput.MetricsFileName, StatisticsResult.FileName]
            : [TrainingOutput.UpdateFileName, TrainingOutput.MetricsFileName];
        CheckEntries(outputDir, maxBytes, maxEntries, allowed, "a training train");
        var update = Path.Combine(outputDir, TrainingOutput.UpdateFileName);
        if (!File.Exists(update))
            throw new JobFailedException("collect", $"the train exited without writing /output/{TrainingOutput.UpdateFileName}");
        var report = TensorOutputCheck.Check(manifest.Outputs.Tensors, update);
        if (!report.IsValid)
            throw new JobFailedException("collect", $"/output/{TrainingOutput.UpdateFileName} does not match the declared tensors: {string.Join("; ", report.Problems)}");
        var metricsPath = Path.Combine(outputDir, TrainingOutput.MetricsFileName);
        if (!File.Exists(metricsPath))
            throw new JobFailedException("collect", $"the train exited without writing /output/{TrainingOutput.MetricsFileName}");
        var (samples, metrics, problem) = TrainingOutput.ParseMetrics(File.ReadAllBytes(metricsPath));
        if (problem is not null)
            throw new JobFailedException("collect", $"/output/{TrainingOutput.MetricsFileName} is not valid: {problem}");
        var statistics = manifest.Outputs.Statistics.Count > 0 ? ReadStatistics(outputDir, manifest) : new StatisticsResult();
        return new TrainingOutput(update, samples, metrics, statistics);
    }

    /// <summary>Only plain files among <paramref name="allowed"/>, within the caps; anything else fails the job.</summary>
    private static void CheckEntries(string outputDir, long maxBytes, int maxEntries, IReadOnlyList<string> allowed, string what)
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
        var undeclared = scan.Entries.Where(e => !allowed.Contains(e.RelativePath) || e.Status.Kind != UnixFileKind.Regular).ToList();
        if (undeclared.Count > 0)
            throw new JobFailedException("collect", $"the train wrote undeclared output: {List(undeclared, e => e.RelativePath)}; only {string.Join(", ", allowed)} {(allowed.Count == 1 ? "is" : "are")} allowed for {what}");
    }

    private static StatisticsResult ReadStatistics(string outputDir, TrainManifest manifest)
    {
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
        // Suppression is the station's to apply and to record; a train that marks cells itself would forge that record.
        var marked = result.Statistics.Where(s => s.Value.Suppressed is not null).Select(s => s.Key).Order(StringComparer.Ordinal).ToList();
        if (result.Disclosure is not null || marked.Count > 0)
            throw new JobFailedException("collect", $"/output/{StatisticsResult.FileName} marks cells suppressed ({(marked.Count > 0 ? string.Join(", ", marked) : "disclosure")}); only the station suppresses cells");
        return result;
    }

    private static string List(IReadOnlyCollection<OutputEntry> items, Func<OutputEntry, string> describe)
    {
        var names = items.OrderBy(i => i.RelativePath, StringComparer.Ordinal).Take(ListedAtMost).Select(describe);
        return string.Join(", ", names) + (items.Count > ListedAtMost ? $" and {items.Count - ListedAtMost} more" : "");
    }
}
