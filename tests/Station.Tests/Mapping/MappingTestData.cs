using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using HealthTrain.Station.Ingestion;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>The shared data sets (../shared/data next to the repository), unpacked once per test run into a temp folder.</summary>
public static class MappingTestData
{
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);
    private const string ScratchPrefix = "healthtrain-mapping-tests-";

    private static readonly Lazy<string> Scratch = new(() =>
    {
        RemoveStaleScratch();
        var path = Path.Combine(Path.GetTempPath(), ScratchPrefix + Environment.ProcessId);
        Directory.CreateDirectory(path);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(path, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        };
        return path;
    });

    private static readonly Dictionary<string, string> Unpacked = [];
    private static readonly Lock Gate = new();

    /// <summary>The repository root (the folder with HealthTrain.sln).</summary>
    public static string RepositoryRoot => Root.Value;

    /// <summary>The shared data folder.</summary>
    public static string DataRoot => Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "data"));

    /// <summary>The mapping set folder of a format in the repository.</summary>
    public static string MappingDirectory(string format) => Path.Combine(RepositoryRoot, "fhir-mappings", format);

    /// <summary>A temp folder for one test, removed with the rest at exit.</summary>
    public static string NewTempFolder()
    {
        var path = Path.Combine(Scratch.Value, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Unpacks <c>&lt;name&gt;/&lt;name&gt;.tar.gz</c> (once) and returns the folder it unpacks to.</summary>
    public static string Unpack(string name)
    {
        lock (Gate)
        {
            if (Unpacked.TryGetValue(name, out var done))
            {
                return done;
            }

            var archive = Path.Combine(DataRoot, name, name + ".tar.gz");
            var target = Path.Combine(Scratch.Value, "data-" + name);
            Directory.CreateDirectory(target);
            using (var file = File.OpenRead(archive))
            using (var gzip = new GZipStream(file, CompressionMode.Decompress))
            {
                TarFile.ExtractToDirectory(gzip, target, overwriteFiles: true);
            }

            var folder = Path.Combine(target, name);
            Unpacked[name] = folder;
            return folder;
        }
    }

    /// <summary>The OMOP zip as shipped.</summary>
    public static string OmopZip => Path.Combine(DataRoot, "omop-synthea27nj", "Synthea27Nj_5.4.zip");

    /// <summary>The OMOP zip extracted into a folder (with its __MACOSX entries, as a careless unzip leaves them).</summary>
    public static string OmopFolder()
    {
        lock (Gate)
        {
            if (Unpacked.TryGetValue("omop", out var done))
            {
                return done;
            }

            var target = Path.Combine(Scratch.Value, "data-omop");
            ZipFile.ExtractToDirectory(OmopZip, target, overwriteFiles: true);
            Unpacked["omop"] = target;
            return target;
        }
    }

    /// <summary>Test hosts are often killed rather than exited: remove folders of earlier runs whose process is gone.</summary>
    private static void RemoveStaleScratch()
    {
        foreach (var folder in Directory.EnumerateDirectories(Path.GetTempPath(), ScratchPrefix + "*"))
        {
            if (!int.TryParse(Path.GetFileName(folder)[ScratchPrefix.Length..], out var pid) || IsRunning(pid))
            {
                continue;
            }

            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "HealthTrain.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no HealthTrain.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>A mapped resource, parsed for assertions.</summary>
public sealed record MappedResource(string Position, string Type, string Id, JsonElement Json);

/// <summary>All records of one source run, split into resources and errors.</summary>
public sealed class MappedRun
{
    public List<MappedResource> Resources { get; } = [];

    public List<SourceRecord> Errors { get; } = [];

    public static MappedRun Collect(IEnumerable<SourceRecord> records)
    {
        var run = new MappedRun();
        foreach (var record in records)
        {
            if (record.ResourceJson is null)
            {
                run.Errors.Add(record);
                continue;
            }

            var json = JsonDocument.Parse(record.ResourceJson).RootElement.Clone();
            run.Resources.Add(new MappedResource(record.Position, json.GetProperty("resourceType").GetString()!, json.GetProperty("id").GetString()!, json));
        }

        return run;
    }

    public IEnumerable<MappedResource> OfType(string type) => Resources.Where(r => r.Type == type);
}
