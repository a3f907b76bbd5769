using System.Text.Json;

namespace HealthTrain.Station.Tests.Views;

/// <summary>Locates the official SQL-on-FHIR v2 test files in shared/ beside the repository and lists their tests.</summary>
internal static class OfficialSuite
{
    public static string Directory { get; } = Path.Combine(RepositoryRoot(), "..", "shared", "conformance", "sql-on-fhir-v2", "tests");

    /// <summary>(file name, test title) for every test in every official file.</summary>
    public static IEnumerable<object[]> Tests()
    {
        var files = System.IO.Directory.GetFiles(Directory, "*.json").Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new InvalidOperationException($"no official test files in {Directory}");
        foreach (var file in files)
        {
            using var document = JsonDocument.Parse(File.ReadAllText(file));
            foreach (var test in document.RootElement.GetProperty("tests").EnumerateArray())
            {
                yield return [Path.GetFileName(file), test.GetProperty("title").GetString()!];
            }
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "HealthTrain.sln"))) return dir.FullName;
        }

        throw new InvalidOperationException($"HealthTrain.sln not found above {AppContext.BaseDirectory}");
    }
}
