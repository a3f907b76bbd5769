using System.Formats.Tar;
using System.IO.Compression;

namespace HealthTrain.Cli.Demo;

/// <summary>The demo's hospitals: the shared Synthea R4 population unpacked once and split by city into disjoint slices.</summary>
public static class DemoData
{
    public const string DataSet = "synthea-r4-ma-2019";

    /// <summary>Unpacks <c>../shared/data/synthea-r4-ma-2019</c> into the work folder once and returns the folder of bundles.</summary>
    public static string EnsureUnpacked(string workDir)
    {
        var target = Path.Combine(workDir, "data", DataSet);
        var done = Path.Combine(target, ".unpacked");
        var bundles = Path.Combine(target, DataSet, "fhir");
        if (File.Exists(done)) return bundles;
        var archive = Path.Combine(RepoPaths.SharedData, DataSet, DataSet + ".tar.gz");
        if (!File.Exists(archive)) throw new FileNotFoundException($"the demo data set is missing: {archive} (../shared/data beside the checkout)", archive);
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        Directory.CreateDirectory(target);
        using (var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress))
            TarFile.ExtractToDirectory(gz, target, overwriteFiles: true);
        if (!Directory.Exists(bundles)) throw new DirectoryNotFoundException($"{archive} did not hold {DataSet}/fhir");
        File.WriteAllText(done, archive);
        return bundles;
    }

    /// <summary>Splits the bundles into <paramref name="parts"/> station folders by city; reuses a split made before.</summary>
    public static CitySplitResult EnsureSlices(string workDir, int parts)
    {
        var bundles = EnsureUnpacked(workDir);
        var output = Path.Combine(workDir, "data", $"{DataSet}-by-city-{parts}");
        return CitySplit.Split(bundles, output, parts);
    }
}
