using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Station.Fhir;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Tests.Fhir;

public sealed class FhirFolderLoaderTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-fhirload-").FullName;
    private readonly FhirStore _store;

    public FhirFolderLoaderTests()
    {
        Directory.CreateDirectory(DataDir);
        _store = new FhirStore(Path.Combine(_dir, "db", "fhir.db"));
    }

    private string DataDir => Path.Combine(_dir, "data");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private FhirLoadReport Load() => new FhirFolderLoader(_store).Load(DataDir);

    private string Write(string name, string text)
    {
        var path = Path.Combine(DataDir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>A Synthea-style transaction bundle: urn:uuid fullUrls and references, one patient with an encounter and observations.</summary>
    private static string PatientBundle(string patientId, int observations = 2, string type = "transaction", string family = "Doe")
    {
        var entries = new JsonArray
        {
            Entry(patientId, new JsonObject
            {
                ["resourceType"] = "Patient",
                ["id"] = patientId,
                ["name"] = new JsonArray(new JsonObject { ["family"] = family }),
            }),
            Entry($"{patientId}-enc", new JsonObject
            {
                ["resourceType"] = "Encounter",
                ["id"] = $"{patientId}-enc",
                ["subject"] = Ref($"urn:uuid:{patientId}"),
                // Synthea 2019 points at organizations that live in another file: must stay as it is.
                ["serviceProvider"] = Ref("urn:uuid:org-elsewhere"),
            }),
        };
        for (var i = 0; i < observations; i++)
        {
            entries.Add(Entry($"{patientId}-obs{i}", new JsonObject
            {
                ["resourceType"] = "Observation",
                ["id"] = $"{patientId}-obs{i}",
                ["status"] = "final",
                ["subject"] = Ref($"urn:uuid:{patientId}"),
                ["encounter"] = Ref($"urn:uuid:{patientId}-enc"),
                ["valueQuantity"] = new JsonObject { ["value"] = 5.5 + i, ["unit"] = "mmol/L" },
            }));
        }

        return new JsonObject { ["resourceType"] = "Bundle", ["type"] = type, ["entry"] = entries }
            .ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static JsonObject Entry(string id, JsonObject resource) =>
        new() { ["fullUrl"] = $"urn:uuid:{id}", ["resource"] = resource, ["request"] = new JsonObject { ["method"] = "POST", ["url"] = resource["resourceType"]!.GetValue<string>() } };

    private static JsonObject Ref(string reference) => new() { ["reference"] = reference };

    private JsonElement Stored(string type, string id)
    {
        using var output = new MemoryStream();
        _store.WriteNdjson(type, output);
        foreach (var line in Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var element = JsonDocument.Parse(line).RootElement;
            if (element.GetProperty("id").GetString() == id)
            {
                return element;
            }
        }

        throw new KeyNotFoundException($"{type}/{id} is not stored");
    }

    private T Scalar<T>(string sql, object? parameters = null)
    {
        using var db = new SqliteConnection($"Data Source={_store.DatabasePath};Pooling=False");
        return db.ExecuteScalar<T>(sql, parameters)!;
    }

    [Fact]
    public void Loads_a_transaction_bundle_and_rewrites_in_bundle_references()
    {
        Write("alice.json", PatientBundle("alice", observations: 3));

        var report = Load();

        Assert.Equal(1, report.FilesLoaded);
        Assert.Empty(report.RejectedFiles);
        Assert.Empty(report.RejectedResources);
        Assert.Equal(new Dictionary<string, long> { ["Encounter"] = 1, ["Observation"] = 3, ["Patient"] = 1 }, report.ResourcesByType);
        Assert.Equal(5, report.ResourcesLoaded);
        Assert.Equal(3, _store.Count("Observation"));

        var observation = Stored("Observation", "alice-obs1");
        Assert.Equal("Patient/alice", observation.GetProperty("subject").GetProperty("reference").GetString());
        Assert.Equal("Encounter/alice-enc", observation.GetProperty("encounter").GetProperty("reference").GetString());
        Assert.Equal(6.5, observation.GetProperty("valueQuantity").GetProperty("value").GetDouble());
        var encounter = Stored("Encounter", "alice-enc");
        Assert.Equal("urn:uuid:org-elsewhere", encounter.GetProperty("serviceProvider").GetProperty("reference").GetString());
        Assert.Equal("Patient/alice", Scalar<string>("SELECT subject FROM fhir_resources WHERE id = 'alice-obs1'"));
        Assert.Null(Scalar<string?>("SELECT subject FROM fhir_resources WHERE id = 'alice'"));
    }

    [Fact]
    public void Rewrites_only_reference_properties_forward_references_too_and_keeps_text_exact()
    {
        // The observation comes before the patient it points to; the same urn appears in a non-reference property.
        Write("forward.json", """
            {"resourceType":"Bundle","type":"collection","entry":[
              {"fullUrl":"urn:uuid:o1","resource":{"resourceType":"Observation","id":"o1",
                "subject":{"reference":"urn:uuid:p1","display":"urn:uuid:p1"},
                "identifier":[{"value":"urn:uuid:p1"}],
                "note":[{"text":"Line1\nQuote \" and \u00e9 and </div>"}],
                "performer":[{"reference":"Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999"}],
                "valueQuantity":{"value":1.50}}},
              {"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"p1"}}
            ]}
            """);

        Load();

        var observation = Stored("Observation", "o1");
        Assert.Equal("Patient/p1", observation.GetProperty("subject").GetProperty("reference").GetString());
        Assert.Equal("urn:uuid:p1", observation.GetProperty("subject").GetProperty("display").GetString());
        Assert.Equal("urn:uuid:p1", observation.GetProperty("identifier")[0].GetProperty("value").GetString());
        Assert.Equal("Line1\nQuote \" and é and </div>", observation.GetProperty("note")[0].GetProperty("text").GetString());
        Assert.Equal("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999", observation.GetProperty("performer")[0].GetProperty("reference").GetString());
        // Numbers are copied as written, not re-formatted.
        Assert.Equal("1.50", observation.GetProperty("valueQuantity").GetProperty("value").GetRawText());
        Assert.Equal("Patient/p1", Scalar<string>("SELECT subject FROM fhir_resources WHERE id = 'o1'"));
    }

    [Fact]
    public void Stores_compact_single_line_json()
    {
        Write("alice.json", PatientBundle("alice"));
        Load();

        var json = Scalar<string>("SELECT json FROM fhir_resources WHERE id = 'alice-obs0'");
        Assert.DoesNotContain('\n', json);
        Assert.DoesNotContain("  ", json);
        Assert.StartsWith("""{"resourceType":"Observation","id":"alice-obs0",""", json);
    }

    [Fact]
    public void Uses_meta_lastUpdated_when_present_and_the_load_time_otherwise()
    {
        Write("two.json", """
            {"resourceType":"Bundle","type":"searchset","entry":[
              {"resource":{"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2020-05-06T07:08:09Z"}}},
              {"resource":{"resourceType":"Patient","id":"p2"}}]}
            """);
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        Load();

        Assert.Equal("2020-05-06T07:08:09Z", Scalar<string>("SELECT last_updated FROM fhir_resources WHERE id = 'p1'"));
        var loadTime = DateTimeOffset.Parse(Scalar<string>("SELECT last_updated FROM fhir_resources WHERE id = 'p2'"));
        Assert.InRange(loadTime, before, DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public void Loads_single_resources_and_nested_folders()
    {
        Write("single/patient.json", """{"resourceType":"Patient","id":"solo"}""");
        Write("a/b/c/bundle.json", PatientBundle("deep", observations: 1, type: "batch"));
        Write("notes.txt", "not FHIR, not loaded");

        var report = Load();

        Assert.Equal(2, report.FilesLoaded);
        Assert.Equal(2, _store.Count("Patient"));
        Assert.Equal(1, _store.Count("Observation"));
    }

    [Fact]
    public void Rejects_resources_without_type_or_id_and_entries_without_resource()
    {
        Write("mixed.json", """
            {"resourceType":"Bundle","type":"collection","entry":[
              {"resource":{"resourceType":"Patient","id":"ok"}},
              {"resource":{"id":"no-type"}},
              {"resource":{"resourceType":"Observation"}},
              {"resource":{"resourceType":"Observation","id":""}},
              {"request":{"method":"DELETE","url":"Patient/gone"}}]}
            """);
        Write("noid.json", """{"resourceType":"Patient","name":[{"family":"X"}]}""");

        var report = Load();

        Assert.Equal(2, report.FilesLoaded);
        Assert.Empty(report.RejectedFiles);
        Assert.Equal(1, report.ResourcesLoaded);
        Assert.Equal(1, _store.Count("Patient"));
        var rejected = report.RejectedResources.Select(r => $"{Path.GetFileName(r.Path)} {r.Location}: {r.Reason}").ToList();
        Assert.Equal(
            [
                "mixed.json entry[1]: resource has no resourceType",
                "mixed.json entry[2]: Observation has no id",
                "mixed.json entry[3]: Observation has no id",
                "mixed.json entry[4]: bundle entry has no resource",
                "noid.json document: Patient has no id",
            ],
            rejected);
    }

    [Fact]
    public void Reloading_skips_unchanged_files_and_reloads_changed_ones()
    {
        Write("alice.json", PatientBundle("alice"));
        var bob = Write("bob.json", PatientBundle("bob", family: "Smith"));
        var first = Load();
        Assert.Equal(2, first.FilesLoaded);
        var countsAfterFirst = _store.CountByType();

        var second = Load();
        Assert.Equal(0, second.FilesLoaded);
        Assert.Equal(2, second.FilesSkippedUnchanged);
        Assert.Equal(0, second.ResourcesLoaded);
        Assert.Equal(countsAfterFirst, _store.CountByType());

        File.WriteAllText(bob, PatientBundle("bob", family: "Jones"));
        var third = Load();
        Assert.Equal(1, third.FilesLoaded);
        Assert.Equal(1, third.FilesSkippedUnchanged);
        Assert.Equal(4, third.ResourcesLoaded);
        Assert.Equal(countsAfterFirst, _store.CountByType());
        Assert.Equal("Jones", Stored("Patient", "bob").GetProperty("name")[0].GetProperty("family").GetString());
        Assert.Equal(2L, Scalar<long>("SELECT COUNT(*) FROM loaded_files WHERE status = 'loaded'"));
    }

    [Fact]
    public void Loads_ndjson_one_resource_per_line()
    {
        Write("Observation.ndjson",
            "{\"resourceType\":\"Observation\",\"id\":\"n1\",\"subject\":{\"reference\":\"Patient/p9\"}}\r\n" +
            "\n" +
            "  {\"resourceType\":\"Observation\",\"status\":\"final\"}\n" +
            "{\"resourceType\":\"Observation\",\"id\":\"n2\",\"subject\":{\"reference\":\"https://fhir.example.org/r4/Patient/p7/_history/3\"}}\n" +
            "{\"resourceType\":\"Claim\",\"id\":\"c1\",\"patient\":{\"reference\":\"Patient?identifier=x|1\"}}\n");

        var report = Load();

        Assert.Equal(1, report.FilesLoaded);
        Assert.Equal(2, _store.Count("Observation"));
        Assert.Equal(1, _store.Count("Claim"));
        var rejected = Assert.Single(report.RejectedResources);
        Assert.Equal("line 3", rejected.Location);
        Assert.Equal("Observation has no id", rejected.Reason);
        Assert.Equal("Patient/p9", Scalar<string>("SELECT subject FROM fhir_resources WHERE id = 'n1'"));
        Assert.Equal("Patient/p7", Scalar<string>("SELECT subject FROM fhir_resources WHERE id = 'n2'"));
        // A conditional reference names no resource id: nothing to index.
        Assert.Null(Scalar<string?>("SELECT subject FROM fhir_resources WHERE id = 'c1'"));

        Assert.Equal(1, Load().FilesSkippedUnchanged);
    }

    [Fact]
    public void A_bad_ndjson_line_rejects_the_whole_file_even_after_many_good_lines()
    {
        // More lines than one write chunk, so some of the file has already reached the database when the bad line shows up.
        var lines = Enumerable.Range(0, 5_000).Select(i => $$"""{"resourceType":"Observation","id":"bulk{{i}}"}""").ToList();
        lines.Insert(4_321, """{"resourceType":"Observation","id":"broken" """);
        Write("Observation.ndjson", string.Join('\n', lines));
        Write("ok.json", PatientBundle("alice"));

        var report = Load();

        var rejected = Assert.Single(report.RejectedFiles);
        Assert.Contains("Observation.ndjson", rejected.Reason);
        Assert.Contains("line 4322", rejected.Reason);
        Assert.Equal(1, report.FilesLoaded);
        Assert.Equal(2, _store.Count("Observation"));
        Assert.Equal(0L, Scalar<long>("SELECT COUNT(*) FROM fhir_resources WHERE id LIKE 'bulk%'"));
    }

    [Fact]
    public void A_truncated_file_is_rejected_with_its_position_and_the_others_load()
    {
        Write("alice.json", PatientBundle("alice"));
        var full = PatientBundle("broken", observations: 5);
        Write("broken.json", full[..(full.Length * 2 / 3)]);
        Write("carol.json", PatientBundle("carol"));
        Write("empty.json", "");

        var report = Load();

        Assert.Equal(2, report.FilesLoaded);
        Assert.Equal(["broken.json", "empty.json"], report.RejectedFiles.Select(r => Path.GetFileName(r.Path)));
        var reason = report.RejectedFiles[0].Reason;
        Assert.StartsWith("broken.json: not valid JSON:", reason);
        Assert.Contains("LineNumber:", reason);
        Assert.Contains("BytePositionInLine:", reason);
        Assert.Equal(2, _store.Count("Patient"));
        Assert.Equal(0L, Scalar<long>("SELECT COUNT(*) FROM fhir_resources WHERE id LIKE 'broken%'"));
        Assert.Equal("rejected", Scalar<string>("SELECT status FROM loaded_files WHERE path LIKE '%broken.json'"));
        Assert.Equal(reason, Scalar<string>("SELECT error FROM loaded_files WHERE path LIKE '%broken.json'"));

        // A rejected file is tried (and reported) again on the next start; the good ones are skipped.
        var again = Load();
        Assert.Equal(2, again.FilesSkippedUnchanged);
        Assert.Equal(2, again.RejectedFiles.Count);

        // Once fixed, it loads.
        Write("broken.json", full);
        Assert.Equal(1, Load().FilesLoaded);
        Assert.Equal(3, _store.Count("Patient"));
    }

    [Fact]
    public void Rejects_every_real_truncated_synthea_bundle_and_keeps_loading()
    {
        SharedData.Unpack("synthea-truncated-bundles/synthea-truncated-bundles.tar.gz", DataDir);
        Write("good/alice.json", PatientBundle("alice"));

        var report = Load();

        var truncated = Directory.GetFiles(Path.Combine(DataDir, "synthea-truncated-bundles"), "*.json");
        Assert.Equal(8, truncated.Length);
        Assert.Equal(truncated.Order(StringComparer.Ordinal), report.RejectedFiles.Select(r => r.Path));
        foreach (var rejected in report.RejectedFiles)
        {
            Assert.StartsWith(Path.GetFileName(rejected.Path) + ": not valid JSON:", rejected.Reason);
            Assert.Contains("LineNumber:", rejected.Reason);
        }

        Assert.Contains(report.RejectedFiles, r => r.Path.Contains("Jerónimo599_Bétancourt447", StringComparison.Ordinal));
        Assert.Equal(1, report.FilesLoaded);
        Assert.Equal(new Dictionary<string, long> { ["Encounter"] = 1, ["Observation"] = 2, ["Patient"] = 1 }, _store.CountByType());
    }

    [Fact]
    public void Loads_a_real_synthea_export_completely()
    {
        SharedData.Unpack("synthea-csv-fhir-ma-11/synthea-csv-fhir-ma-11.tar.gz", _dir);
        var fhir = Path.Combine(_dir, "synthea-csv-fhir-ma-11", "fhir");

        var report = new FhirFolderLoader(_store).Load(fhir);

        Assert.Empty(report.RejectedFiles);
        Assert.Empty(report.RejectedResources);
        Assert.Equal(12, report.FilesLoaded);
        Assert.Equal(10, _store.Count("Patient"));
        Assert.Equal(1384, _store.Count("Observation"));
        Assert.Equal(4892, report.ResourcesLoaded);
        Assert.Equal(report.BytesLoaded, Directory.GetFiles(fhir).Sum(f => new FileInfo(f).Length));

        // Every urn:uuid reference of these bundles points inside its own bundle, so none may be left.
        Assert.Equal(0L, Scalar<long>("""SELECT COUNT(*) FROM fhir_resources WHERE json LIKE '%"reference":"urn:uuid:%'"""));
        // Every observation is indexed under a patient that exists.
        Assert.Equal(0L, Scalar<long>("""
            SELECT COUNT(*) FROM fhir_resources o
            WHERE o.resource_type = 'Observation'
              AND NOT EXISTS (SELECT 1 FROM fhir_resources p WHERE p.resource_type = 'Patient' AND 'Patient/' || p.id = o.subject)
            """));

        Assert.Equal(12, new FhirFolderLoader(_store).Load(fhir).FilesSkippedUnchanged);
    }

    [Fact]
    public void Cancellation_stops_the_load_and_surfaces()
    {
        Write("alice.json", PatientBundle("alice"));
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        Assert.ThrowsAny<OperationCanceledException>(() => new FhirFolderLoader(_store).Load(DataDir, cancelled.Token));
        Assert.Equal(0, _store.Count("Patient"));
    }

    /// <summary>Archives under the shared data folder beside the checkout (<c>&lt;repo&gt;/../shared/data</c>).</summary>
    private static class SharedData
    {
        public static void Unpack(string relativeArchive, string destination)
        {
            var archive = Path.Combine(RepoRoot(), "..", "shared", "data", relativeArchive);
            Assert.True(File.Exists(archive), $"shared test data missing: {archive}");
            Directory.CreateDirectory(destination);
            using var gzip = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress);
            TarFile.ExtractToDirectory(gzip, destination, overwriteFiles: true);
        }

        private static string RepoRoot()
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "HealthTrain.sln")))
                {
                    return dir.FullName;
                }
            }

            throw new DirectoryNotFoundException("HealthTrain.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
