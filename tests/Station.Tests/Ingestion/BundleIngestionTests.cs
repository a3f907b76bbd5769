using System.Text;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using static HealthTrain.Station.Tests.Ingestion.IngestionTestData;

namespace HealthTrain.Station.Tests.Ingestion;

/// <summary>fhir-bundle: references inside and across bundles, and bundles that are broken as a whole or in one entry.</summary>
public sealed class BundleIngestionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-ingest-bundle-").FullName;
    private readonly FhirStore _store;

    public BundleIngestionTests()
    {
        Directory.CreateDirectory(Input);
        _store = new FhirStore(Path.Combine(_dir, "fhir.db"));
    }

    private string Input => Path.Combine(_dir, "input");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string name, string text) => File.WriteAllText(Path.Combine(Input, name), text);

    private IngestionReport Ingest(FhirIngestionOptions? options = null) =>
        new FhirIngestion(_store, options).Run(new FhirBundleSource(), Input);

    private static string Encounter(string id, string patient, string organization) =>
        $$$"""{"resourceType":"Encounter","id":"{{{id}}}","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"{{{patient}}}"},"serviceProvider":{"reference":"{{{organization}}}"}}""";

    private static string Organization(string id) => $$"""{"resourceType":"Organization","id":"{{id}}","name":"Hospital {{id}}"}""";

    [Fact]
    public void Urn_uuid_references_inside_a_bundle_are_rewritten_like_the_loader_does()
    {
        Write("alice.json", Bundle(
            (Patient("alice"), null),
            (Encounter("enc1", "urn:uuid:alice", "Organization/org-in-store"), null),
            (Observation("obs1", "urn:uuid:alice"), null)));
        Write("org.json", Organization("org-in-store"));

        var report = Ingest();

        Assert.Equal(0, report.Quarantined);
        Assert.Equal(4, report.Ingested);
        Assert.Equal("Patient/alice", Stored(_store, "Observation", "obs1").GetProperty("subject").GetProperty("reference").GetString());
        Assert.Equal("Patient/alice", Scalar<string>(_store, "SELECT subject FROM fhir_resources WHERE id = 'obs1'"));
        Assert.Equal("Patient/alice", Scalar<string>(_store, "SELECT subject FROM fhir_resources WHERE id = 'enc1'"));
        // Stored compact, on one line, as the loader stores it.
        Assert.DoesNotContain("\n", Scalar<string>(_store, "SELECT json FROM fhir_resources WHERE id = 'enc1'"));
        Assert.Equal(0, report.DanglingReferences);
    }

    [Fact]
    public void The_store_rows_equal_the_folder_loaders_for_the_same_bundle()
    {
        Write("alice.json", Bundle(
            (Patient("alice"), null),
            (Encounter("enc1", "urn:uuid:alice", "urn:uuid:org1"), null),
            (Organization("org1"), null),
            (Observation("obs1", "urn:uuid:alice"), "urn:uuid:6a3e2c1e-0000-4000-8000-000000000001")));
        var loaderStore = new FhirStore(Path.Combine(_dir, "loader.db"));
        new FhirFolderLoader(loaderStore).Load(Input);

        Ingest();

        Assert.Equal(
            Rows(loaderStore).Select(r => (r.Type, r.Id, r.Subject, r.Json)),
            Rows(_store).Select(r => (r.Type, r.Id, r.Subject, r.Json)));
    }

    [Fact]
    public void Urn_references_to_other_files_resolve_at_the_end_of_the_run_and_are_rewritten()
    {
        // Synthea 2019: patient bundles point at organizations through urn:uuid that only the hospital file defines,
        // and that file sorts after the patients.
        Write("Alice.json", Bundle(
            (Patient("alice"), null),
            (Encounter("enc1", "urn:uuid:alice", "urn:uuid:5a0c6f4e-1111-4c6e-9b1a-000000000001"), null),
            (Encounter("enc2", "urn:uuid:alice", "urn:uuid:org-b"), null)));
        Write("hospitalInformation.json", Bundle(
            (Organization("org-a"), "urn:uuid:5a0c6f4e-1111-4c6e-9b1a-000000000001"),
            (Organization("org-b"), null)));

        var report = Ingest();

        Assert.Equal(0, report.Quarantined);
        Assert.Equal(2, report.ReferencesRewritten);
        Assert.Equal("Organization/org-a", Stored(_store, "Encounter", "enc1").GetProperty("serviceProvider").GetProperty("reference").GetString());
        Assert.Equal("Organization/org-b", Stored(_store, "Encounter", "enc2").GetProperty("serviceProvider").GetProperty("reference").GetString());
        Assert.Equal("Patient/alice", Scalar<string>(_store, "SELECT subject FROM fhir_resources WHERE id = 'enc1'"));
        Assert.Equal(0, Scalar<long>(_store, "SELECT COUNT(*) FROM ingestion_references"));
    }

    [Fact]
    public void A_urn_no_bundle_entry_defines_is_a_broken_reference_and_the_resource_is_quarantined()
    {
        Write("alice.json", Bundle(
            (Patient("alice"), null),
            (Encounter("enc1", "urn:uuid:alice", "urn:uuid:nobody-defines-this"), null)));

        var report = Ingest();

        Assert.Equal(new Dictionary<string, long> { ["Patient"] = 1 }, report.IngestedByType);
        var entry = Assert.Single(IngestionLog.Quarantine(_store, report.RunId));
        Assert.Equal(QuarantineCategory.BrokenReference, entry.Category);
        Assert.Equal("alice.json, entry[1]", entry.Position);
        Assert.Contains("broken reference 'urn:uuid:nobody-defines-this' at Encounter.serviceProvider", entry.Reason);
        Assert.Contains("\"id\":\"enc1\"", entry.Raw);
        Assert.Equal(0, _store.Count("Encounter"));
        Assert.Equal(2, report.Records);
    }

    [Fact]
    public void An_entry_with_bytes_that_are_not_utf8_is_quarantined_alone()
    {
        var text = Bundle((Patient("alice", family: "Mxller"), null), (Observation("obs1", "urn:uuid:alice"), null));
        var bytes = Encoding.UTF8.GetBytes(text);
        bytes[text.IndexOf("Mxller", StringComparison.Ordinal) + 1] = 0xC3; // a lead byte without its continuation
        File.WriteAllBytes(Path.Combine(Input, "alice.json"), bytes);

        var report = Ingest();

        Assert.Equal(new Dictionary<string, long> { ["Observation"] = 1 }, report.IngestedByType);
        var entry = Assert.Single(IngestionLog.Quarantine(_store, report.RunId));
        Assert.Equal(QuarantineCategory.NotUtf8, entry.Category);
        Assert.Equal("alice.json, entry[0]", entry.Position);
        // The observation's patient reference still resolves to Patient/alice (the fullUrl map came from the first pass).
        Assert.Equal("Patient/alice", Stored(_store, "Observation", "obs1").GetProperty("subject").GetProperty("reference").GetString());
        Assert.Equal(1, report.DanglingReferences);
    }

    [Fact]
    public void A_truncated_bundle_is_quarantined_whole_and_other_files_load()
    {
        var full = Bundle((Patient("bob"), null), (Observation("obs-b", "urn:uuid:bob"), null));
        Write("bob.json", full[..(full.Length * 2 / 3)]);
        Write("spliced.json", full[..(full.Length / 3)] + full[(full.Length / 2)..]);
        Write("alice.json", Bundle((Patient("alice"), null)));

        var report = Ingest();

        Assert.Equal(new Dictionary<string, long> { ["Patient"] = 1 }, report.IngestedByType);
        var entries = IngestionLog.Quarantine(_store, report.RunId).ToDictionary(e => e.Position);
        Assert.Equal(QuarantineCategory.Truncated, entries["bob.json"].Category);
        Assert.Contains("bob.json: truncated: the JSON ends before the document is complete", entries["bob.json"].Reason);
        Assert.Contains("nothing from this file is ingested", entries["bob.json"].Reason);
        Assert.Equal(QuarantineCategory.InvalidJson, entries["spliced.json"].Category);
        Assert.Matches(@"spliced\.json is not valid JSON: at line \d+, column \d+ \(byte [\d,]+ of [\d,]+\)", entries["spliced.json"].Reason);
        Assert.StartsWith("{", entries["bob.json"].Raw);
    }

    [Fact]
    public void Entries_without_a_resource_are_quarantined_and_nested_bundles_are_stored_whole()
    {
        var nested = """{"resourceType":"Bundle","id":"doc1","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"inner"}}]}""";
        Write("mixed.json", $$$"""
            {"resourceType":"Bundle","type":"transaction","entry":[
              {"request":{"method":"DELETE","url":"Patient/gone"}},
              {"fullUrl":"urn:uuid:doc1","resource":{{{nested}}}},
              42
            ]}
            """);

        var report = Ingest();

        Assert.Equal(new Dictionary<string, long> { ["Bundle"] = 1 }, report.IngestedByType);
        Assert.Equal(0, _store.Count("Patient"));
        var entries = IngestionLog.Quarantine(_store, report.RunId);
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal(QuarantineCategory.NotAResource, e.Category));
        Assert.Contains("mixed.json, entry[0] has no resource (request DELETE Patient/gone", entries[0].Reason);
        Assert.Contains("mixed.json, entry[2] is a Number", entries[1].Reason);
    }

    [Fact]
    public void A_resource_over_the_size_limit_is_quarantined_and_its_neighbours_are_ingested()
    {
        var big = $$"""{"resourceType":"Binary","id":"big","contentType":"text/plain","data":"{{new string('A', 3 << 20)}}"}""";
        Write("big.json", Bundle((Patient("alice"), null), (big, null), (Observation("obs1", "urn:uuid:alice"), null)));

        var report = Ingest(new FhirIngestionOptions { MaxResourceBytes = 1 << 20 });

        Assert.Equal(new Dictionary<string, long> { ["Observation"] = 1, ["Patient"] = 1 }, report.IngestedByType);
        var entry = Assert.Single(IngestionLog.Quarantine(_store, report.RunId));
        Assert.Equal(QuarantineCategory.TooLarge, entry.Category);
        Assert.Contains("big.json, entry[1] is 3,", entry.Reason);
        Assert.Contains("over the limit of 1,048,576 bytes", entry.Reason);
        Assert.True(entry.RawTruncated);
    }

    [Fact]
    public void A_large_bundle_streams_entry_by_entry()
    {
        const int Patients = 5_000;
        var entries = new List<(string, string?)>();
        for (var i = 0; i < Patients; i++)
        {
            entries.Add((Patient($"p{i}"), null));
            entries.Add((Observation($"o{i}", $"urn:uuid:p{i}", i), null));
        }

        Write("big.json", Bundle([.. entries]));
        Assert.True(new FileInfo(Path.Combine(Input, "big.json")).Length > 2 << 20, "the bundle spans several read buffers");
        var loaderStore = new FhirStore(Path.Combine(_dir, "loader.db"));
        new FhirFolderLoader(loaderStore).Load(Input);

        var report = Ingest(new FhirIngestionOptions { BatchSize = 500 });

        Assert.Equal(2 * Patients, report.Ingested);
        Assert.Equal(0, report.Quarantined);
        Assert.Equal($"Patient/p{Patients - 1}", Scalar<string>(_store, $"SELECT subject FROM fhir_resources WHERE id = 'o{Patients - 1}'"));
        Assert.Equal(Rows(loaderStore), Rows(_store));
    }

    [Fact]
    public void Empty_files_and_roots_that_are_not_objects_are_quarantined()
    {
        Write("empty.json", "");
        Write("blank.json", "  \n ");
        Write("array.json", "[1, 2]");
        Write("alice.json", Patient("alice"));

        var report = Ingest();

        Assert.Equal(new Dictionary<string, long> { ["Patient"] = 1 }, report.IngestedByType);
        var entries = IngestionLog.Quarantine(_store, report.RunId).ToDictionary(e => e.Position);
        Assert.Equal(3, entries.Count);
        Assert.Equal(QuarantineCategory.NotAResource, entries["array.json"].Category);
        Assert.Contains(entries["empty.json"].Category, (string[])[QuarantineCategory.InvalidJson, QuarantineCategory.Truncated]);
        Assert.Contains(entries["blank.json"].Category, (string[])[QuarantineCategory.InvalidJson, QuarantineCategory.Truncated]);
    }
}
