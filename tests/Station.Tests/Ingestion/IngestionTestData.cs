using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Tests.Ingestion;

/// <summary>Shared data sets unpacked once per test run, and helpers to build inputs and read stores back.</summary>
internal static class IngestionTestData
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<string, string> Unpacked = new(StringComparer.Ordinal);
    private static readonly string UnpackRoot = Directory.CreateTempSubdirectory("ht-ingest-data-").FullName;

    /// <summary>The folder a shared <c>.tar.gz</c> data set unpacks to (e.g. <c>mimic-iv-demo-fhir-subset</c>).</summary>
    public static string DataSet(string name)
    {
        lock (Gate)
        {
            if (Unpacked.TryGetValue(name, out var done)) return done;
            var archive = Path.Combine(RepositoryRoot(), "..", "shared", "data", name, name + ".tar.gz");
            Assert.True(File.Exists(archive), $"shared test data missing: {archive}");
            using (var gzip = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress))
            {
                TarFile.ExtractToDirectory(gzip, UnpackRoot, overwriteFiles: true);
            }

            var folder = Path.Combine(UnpackRoot, name);
            Assert.True(Directory.Exists(folder), $"{archive} did not unpack to {name}/");
            File.Delete(Path.Combine(folder, "MANIFEST.sha256"));
            Unpacked[name] = folder;
            return folder;
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

    /// <summary>Every stored resource as (type, id, subject, json), ordered: two stores are equal when these are.</summary>
    public static List<(string Type, string Id, string? Subject, string Json)> Rows(FhirStore store)
    {
        using var db = new SqliteConnection($"Data Source={store.DatabasePath};Pooling=False");
        return db.Query<(string, string, string?, string)>("SELECT resource_type, id, subject, json FROM fhir_resources ORDER BY resource_type, id").ToList();
    }

    public static T Scalar<T>(FhirStore store, string sql, object? parameters = null)
    {
        using var db = new SqliteConnection($"Data Source={store.DatabasePath};Pooling=False");
        return db.ExecuteScalar<T>(sql, parameters)!;
    }

    /// <summary>The stored JSON of Type/id.</summary>
    public static JsonElement Stored(FhirStore store, string type, string id)
    {
        using var db = new SqliteConnection($"Data Source={store.DatabasePath};Pooling=False");
        var json = db.ExecuteScalar<string?>("SELECT json FROM fhir_resources WHERE resource_type = @type AND id = @id", new { type, id });
        Assert.True(json is not null, $"{type}/{id} is not stored");
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    public static string Patient(string id, string family = "Doe") =>
        $$"""{"resourceType":"Patient","id":"{{id}}","name":[{"family":"{{family}}"}],"gender":"female","birthDate":"1970-01-01"}""";

    public static string Observation(string id, string patientReference, decimal value = 5.5m) =>
        $$$"""{"resourceType":"Observation","id":"{{{id}}}","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},"subject":{"reference":"{{{patientReference}}}"},"valueQuantity":{"value":{{{value.ToString(System.Globalization.CultureInfo.InvariantCulture)}}},"unit":"%"}}""";

    /// <summary>A transaction bundle with urn:uuid fullUrls: the given resources (JSON) as entries, fullUrl urn:uuid:&lt;id&gt; unless given.</summary>
    public static string Bundle(params (string Json, string? FullUrl)[] entries)
    {
        var array = new JsonArray();
        foreach (var (json, fullUrl) in entries)
        {
            var resource = JsonNode.Parse(json)!.AsObject();
            var entry = new JsonObject
            {
                ["fullUrl"] = fullUrl ?? "urn:uuid:" + resource["id"]!.GetValue<string>(),
                ["resource"] = resource,
                ["request"] = new JsonObject { ["method"] = "POST", ["url"] = resource["resourceType"]!.GetValue<string>() },
            };
            array.Add(entry);
        }

        return new JsonObject { ["resourceType"] = "Bundle", ["type"] = "transaction", ["entry"] = array }
            .ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    public static string Ndjson(params string[] lines) => string.Join("\n", lines) + "\n";

    /// <summary>A source that behaves like <paramref name="inner"/> but calls <paramref name="onRecord"/> before yielding each record (to cancel or throw mid-run).</summary>
    public sealed class HookedSource(IFileFhirSource inner, Action<long> onRecord) : IFileFhirSource, ISizeLimitedSource, IFullUrlSource
    {
        private long _yielded;

        public string Format => inner.Format;

        public int MaxResourceBytes
        {
            get => (inner as ISizeLimitedSource)?.MaxResourceBytes ?? 0;
            set
            {
                if (inner is ISizeLimitedSource limited) limited.MaxResourceBytes = value;
            }
        }

        public Action<string, string>? FullUrlFound
        {
            get => (inner as IFullUrlSource)?.FullUrlFound;
            set
            {
                if (inner is IFullUrlSource urls) urls.FullUrlFound = value;
            }
        }

        public IReadOnlyList<string> ListFiles(string path) => inner.ListFiles(path);

        public IEnumerable<SourceRecord> ReadFile(string path, string file, CancellationToken cancellationToken)
        {
            foreach (var record in inner.ReadFile(path, file, cancellationToken))
            {
                onRecord(++_yielded);
                yield return record;
            }
        }

        public IEnumerable<SourceRecord> Read(string path, CancellationToken cancellationToken) =>
            ListFiles(path).SelectMany(f => ReadFile(path, f, cancellationToken));
    }

    /// <summary>A plain (not file-based) source over a list of records, e.g. what a mapping produces.</summary>
    public sealed class ListSource(IReadOnlyList<SourceRecord> records, Action<long>? onRecord = null) : IFhirSource
    {
        public string Format => "test-list";

        public IEnumerable<SourceRecord> Read(string path, CancellationToken cancellationToken)
        {
            long count = 0;
            foreach (var record in records)
            {
                onRecord?.Invoke(++count);
                yield return record;
            }
        }
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
