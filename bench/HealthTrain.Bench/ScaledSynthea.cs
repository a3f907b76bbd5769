using System.Text.RegularExpressions;
using HealthTrain.Cli;
using HealthTrain.Cli.Demo;

namespace HealthTrain.Bench;

/// <summary>
/// The shared Synthea R4 set (526 patients, 528 bundles) at 1×, 2×, 4× its size: copy k has every UUID (all ids, fullUrls,
/// references and identifiers in this set are UUIDs) suffixed with <c>-c{k}</c>, so each copy is a new set of patients and
/// organizations whose references stay consistent. Copies are made once under the work folder and reused.
/// </summary>
public static partial class ScaledSynthea
{
    public static readonly int[] Scales = [1, 2, 4];

    /// <summary>A folder holding <paramref name="scale"/> copies (symbolic links to the original and to the re-identified copies).</summary>
    public static string Folder(int scale, TextWriter log)
    {
        var original = DemoData.EnsureUnpacked(RepoPaths.WorkDir);
        var root = Path.Combine(RepoPaths.WorkDir, "data", $"{DemoData.DataSet}-x{scale}");
        Directory.CreateDirectory(root);
        for (var copy = 0; copy < scale; copy++)
        {
            var link = Path.Combine(root, $"c{copy}");
            if (Directory.Exists(link)) continue;
            Directory.CreateSymbolicLink(link, copy == 0 ? original : Copy(original, copy, log));
        }

        return root;
    }

    private static string Copy(string original, int copy, TextWriter log)
    {
        var target = Path.Combine(RepoPaths.WorkDir, "data", $"{DemoData.DataSet}-reid", $"c{copy}");
        var done = Path.Combine(target, ".done");
        if (File.Exists(done)) return target;
        log.WriteLine($"making re-identified copy {copy} of {original} ...");
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.CreateDirectory(target);
        var suffix = $"-c{copy}";
        Parallel.ForEach(Directory.GetFiles(original, "*.json"), file =>
        {
            var text = File.ReadAllText(file);
            File.WriteAllText(Path.Combine(target, Path.GetFileName(file)), Uuid().Replace(text, m => m.Value + suffix));
        });
        File.WriteAllText(done, original);
        return target;
    }

    [GeneratedRegex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
    private static partial Regex Uuid();
}
