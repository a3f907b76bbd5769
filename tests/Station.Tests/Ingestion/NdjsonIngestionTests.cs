using System.Text;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using static HealthTrain.Station.Tests.Ingestion.IngestionTestData;

namespace HealthTrain.Station.Tests.Ingestion;

/// <summary>fhir-ndjson: every kind of bad line is quarantined with its reason, and the good lines around it are ingested.</summary>
public sealed class NdjsonIngestionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-ingest-ndjson-").FullName;
    private readonly FhirStore _store;

    public NdjsonIngestionTests()
    {
        Directory.CreateDirectory(Input);
        _store = new FhirStore(Path.Combine(_dir, "fhir.db"));
    }

    private string Input => Path.Combine(_dir, "input");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string name, string text) => File.WriteAllText(Path.Combine(Input, name), text);

    private void WriteBytes(string name, byte[] bytes) => File.WriteAllBytes(Path.Combine(Input, name), bytes);

    private IngestionReport Ingest(FhirIngestionOptions? options = null) =>
        new FhirIngestion(_store, options).Run(new FhirNdjsonSource(), Input);

    private QuarantineEntry Single(IngestionReport report)
    {
        var entries = IngestionLog.Quarantine(_store, report.RunId);
        return Assert.Single(entries);
    }

    [Fact]
    public void Good_lines_are_ingested_and_blank_lines_are_not_records()
    {
        Write("Patient.ndjson", "\uFEFF" + Patient("p1") + "\n\n   \n" + Patient("p2") + "\r\n");
        Write("Observation.ndjson", Ndjson(Observation("o1", "Patient/p1"), Observation("o2", "Patient/p2")));

        var report = Ingest();

        Assert.Equal(4, report.Records);
        Assert.Equal(0, report.Quarantined);
        Assert.Equal(new Dictionary<string, long> { ["Observation"] = 2, ["Patient"] = 2 }, report.IngestedByType);
        Assert.Equal(0, report.DanglingReferences);
        Assert.Equal("Patient/p1", Scalar<string>(_store, "SELECT subject FROM fhir_resources WHERE id = 'o1'"));
        Assert.Equal("completed", IngestionLog.Status(_store, report.RunId));
    }

    [Fact]
    public void A_line_with_bytes_that_are_not_utf8_is_quarantined()
    {
        var bad = Utf8(Patient("p2", family: "Mxller"));
        bad[Array.IndexOf(bad, (byte)'x')] = 0xFF;
        WriteBytes("Patient.ndjson", [.. Utf8(Patient("p1") + "\n"), .. bad, (byte)'\n', .. Utf8(Patient("p3") + "\n")]);

        var report = Ingest();

        Assert.Equal(2, report.Ingested);
        var entry = Single(report);
        Assert.Equal(QuarantineCategory.NotUtf8, entry.Category);
        Assert.Equal("Patient.ndjson, line 2", entry.Position);
        Assert.Contains("is not valid UTF-8 (0xFF at byte", entry.Reason);
        Assert.Contains("M\uFFFDller", entry.Raw);
    }

    [Fact]
    public void Malformed_json_is_quarantined_with_the_parser_message()
    {
        Write("Patient.ndjson", Ndjson(Patient("p1"), """{"resourceType":"Patient","id":"p2",}""", Patient("p3")));

        var report = Ingest();

        Assert.Equal(2, report.Ingested);
        var entry = Single(report);
        Assert.Equal(QuarantineCategory.InvalidJson, entry.Category);
        Assert.StartsWith("Patient.ndjson, line 2 is not valid JSON:", entry.Reason);
    }

    [Fact]
    public void Wrong_types_are_quarantined_with_the_firely_issues()
    {
        Write("Patient.ndjson", Ndjson(
            Patient("p1"),
            """{"resourceType":"Patient","id":"p2","active":"yes"}""",
            """{"resourceType":"Patient","id":"p3","birthDate":19800101}""",
            """{"resourceType":"Patient","id":"p4","name":{"family":"single, not a list"}}"""));

        var report = Ingest();

        Assert.Equal(1, report.Ingested);
        Assert.Equal(3, report.QuarantinedByCategory[QuarantineCategory.InvalidFhirR4]);
        var reasons = IngestionLog.Quarantine(_store, report.RunId).Select(q => q.Reason).ToList();
        Assert.Contains("not valid FHIR R4", reasons[0]);
        Assert.Contains("At Patient.active", reasons[0]);
        Assert.Contains("At Patient.birthDate", reasons[1]);
        Assert.Contains("Patient.name", reasons[2]);
        Assert.Equal(1, _store.Count("Patient"));
    }

    [Fact]
    public void Unknown_resource_types_missing_ids_and_missing_resource_types_are_quarantined()
    {
        Write("mixed.ndjson", Ndjson(
            """{"resourceType":"Foo","id":"f1"}""",
            """{"resourceType":"Patient","name":[{"family":"NoId"}]}""",
            """{"id":"x1","name":[{"family":"NoType"}]}""",
            """["an array"]""",
            Patient("p1")));

        var report = Ingest();

        Assert.Equal(1, report.Ingested);
        var entries = IngestionLog.Quarantine(_store, report.RunId);
        Assert.Equal(
            [QuarantineCategory.UnknownResourceType, QuarantineCategory.MissingId, QuarantineCategory.NotAResource, QuarantineCategory.NotAResource],
            entries.Select(e => e.Category));
        Assert.Contains("unknown resource type 'Foo'", entries[0].Reason);
        Assert.Contains("the Patient has no id", entries[1].Reason);
        Assert.Contains("no resourceType", entries[2].Reason);
        Assert.Contains("is a StartArray, not a resource", entries[3].Reason);
    }

    [Fact]
    public void A_truncated_last_line_is_quarantined_as_truncated()
    {
        var cut = Patient("p3")[..30];
        Write("Patient.ndjson", Patient("p1") + "\n" + Patient("p2") + "\n" + cut);

        var report = Ingest();

        Assert.Equal(2, report.Ingested);
        var entry = Single(report);
        Assert.Equal(QuarantineCategory.Truncated, entry.Category);
        Assert.Equal("Patient.ndjson, line 3", entry.Position);
        Assert.Contains("the last line ends before its JSON is complete", entry.Reason);
        Assert.Equal(cut, entry.Raw);
    }

    [Fact]
    public void A_50_MB_line_is_quarantined_without_being_held_in_memory_and_the_next_line_is_ingested()
    {
        var path = Path.Combine(Input, "Binary.ndjson");
        using (var file = File.Create(path))
        {
            file.Write(Utf8(Patient("p1") + "\n"));
            file.Write(Utf8("""{"resourceType":"Binary","id":"big","contentType":"text/plain","data":" """));
            var chunk = Encoding.ASCII.GetBytes(new string('A', 1 << 20));
            for (var i = 0; i < 50; i++) file.Write(chunk);
            file.Write(Utf8("\"}\n" + Patient("p2") + "\n"));
        }

        // The source on this thread: what it allocates stays far below the line's size.
        var before = GC.GetAllocatedBytesForCurrentThread();
        var records = new FhirNdjsonSource().Read(path, CancellationToken.None).ToList();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(3, records.Count);
        Assert.True(allocated < 40L << 20, $"reading a 50 MB line allocated {allocated / 1e6:F0} MB");
        Assert.Contains("over the limit of 16,777,216 bytes", records[1].Error);
        Assert.True(records[1].ResourceJson!.Length <= FhirIngestionOptions.DefaultQuarantineTextBytes);

        var report = Ingest();

        Assert.Equal(2, report.Ingested);
        var entry = Single(report);
        Assert.Equal(QuarantineCategory.TooLarge, entry.Category);
        Assert.Equal("Binary.ndjson, line 2", entry.Position);
        Assert.Contains("line 2 is 52,428,", entry.Reason);
        Assert.True(entry.RawTruncated);
        Assert.StartsWith("""{"resourceType":"Binary","id":"big""", entry.Raw);
    }

    [Fact]
    public void Stu3_resources_are_quarantined_as_stu3()
    {
        Write("stu3.ndjson", Ndjson(
            """{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"},"context":{"reference":"Encounter/e1"}}""",
            """{"resourceType":"Condition","id":"c1","clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}""",
            """{"resourceType":"ProcedureRequest","id":"r1","status":"active","intent":"order","subject":{"reference":"Patient/p1"}}""",
            """{"resourceType":"Immunization","id":"i1","status":"completed","notGiven":false,"vaccineCode":{"text":"x"},"patient":{"reference":"Patient/p1"},"date":"2017-01-01"}""",
            Patient("p1")));

        var report = Ingest();

        Assert.Equal(1, report.Ingested);
        var entries = IngestionLog.Quarantine(_store, report.RunId);
        Assert.Equal(4, entries.Count);
        Assert.All(entries, e => Assert.Equal(QuarantineCategory.FhirStu3, e.Category));
        Assert.All(entries, e => Assert.Contains("looks like FHIR STU3, not R4", e.Reason));
        Assert.Contains("Observation.context (R4: Observation.encounter)", entries[0].Reason);
        Assert.Contains("Condition.clinicalStatus as a code", entries[1].Reason);
        Assert.Contains("resource type ProcedureRequest (R4: ServiceRequest)", entries[2].Reason);
        Assert.Contains("Immunization.notGiven", entries[3].Reason);
    }

    [Fact]
    public void A_valid_r4_resource_with_an_stu3_profile_is_quarantined_as_stu3()
    {
        Write("Patient.ndjson", Ndjson(
            """{"resourceType":"Patient","id":"p1","meta":{"profile":["http://standardhealthrecord.org/fhir/StructureDefinition/shr-entity-Patient"]}}"""));

        var report = Ingest();

        var entry = Single(report);
        Assert.Equal(QuarantineCategory.FhirStu3, entry.Category);
        Assert.Contains("Standard Health Record, defined on STU3", entry.Reason);
    }

    [Fact]
    public void Malformed_references_are_broken_and_missing_targets_are_dangling_but_kept()
    {
        Write("Observation.ndjson", Ndjson(
            Observation("o1", "Patient/p1"),
            Observation("o2", "Patinet/p1"),
            Observation("o3", "Patient/not a valid id"),
            Observation("o4", "Patient/elsewhere"),
            Observation("o5", "#contained"),
            Observation("o6", "https://other.example.org/fhir/Patient/9")));
        Write("Patient.ndjson", Ndjson(Patient("p1")));

        var report = Ingest();

        // Observation.ndjson comes first: o1's patient is only written later, and resolves at the end of the run.
        Assert.Equal(new Dictionary<string, long> { ["Observation"] = 4, ["Patient"] = 1 }, report.IngestedByType);
        var entries = IngestionLog.Quarantine(_store, report.RunId);
        Assert.All(entries, e => Assert.Equal(QuarantineCategory.BrokenReference, e.Category));
        Assert.Contains("broken reference 'Patinet/p1' at Observation.subject: 'Patinet' is not a FHIR R4 resource type", entries[0].Reason);
        Assert.Contains("'not a valid id' is not a valid FHIR id", entries[1].Reason);
        Assert.Equal(1, report.DanglingReferences);
        Assert.Equal((1L, 1L), report.DanglingByTargetType["Patient"]);
        Assert.Equal(2, report.ReferencesNotChecked);
        Assert.Contains("1 references to resources not in the store, kept", report.ToText());
    }

    [Fact]
    public void Dangling_references_can_be_quarantined_instead()
    {
        Write("Observation.ndjson", Ndjson(Observation("o1", "Patient/p1"), Observation("o2", "Patient/elsewhere")));
        Write("Patient.ndjson", Ndjson(Patient("p1")));

        var report = Ingest(new FhirIngestionOptions { DanglingReferences = DanglingReferencePolicy.Quarantine });

        Assert.Equal(new Dictionary<string, long> { ["Observation"] = 1, ["Patient"] = 1 }, report.IngestedByType);
        var entry = Single(report);
        Assert.Equal(QuarantineCategory.DanglingReference, entry.Category);
        Assert.Equal("Observation.ndjson, line 2", entry.Position);
        Assert.Contains("dangling reference 'Patient/elsewhere' at Observation.subject: Patient/elsewhere is not in the store", entry.Reason);
        Assert.Equal(0, Scalar<long>(_store, "SELECT COUNT(*) FROM fhir_resources WHERE id = 'o2'"));
        Assert.Equal(3, report.Records);
    }

    [Fact]
    public void The_report_counts_per_type_and_per_reason()
    {
        Write("a.ndjson", Ndjson(Patient("p1"), "{", """{"resourceType":"Foo","id":"1"}""", Observation("o1", "Patient/p1")));

        var report = Ingest();
        var text = report.ToText();

        Assert.Equal(4, report.Records);
        Assert.Equal(new Dictionary<string, long> { [QuarantineCategory.InvalidJson] = 1, [QuarantineCategory.UnknownResourceType] = 1 }, report.QuarantinedByCategory);
        Assert.Contains("records      4: 2 ingested, 2 quarantined", text);
        Assert.Contains("Observation 1, Patient 1", text);
        Assert.Contains("invalid-json", text);
        Assert.Contains("e.g. a.ndjson, line 3: unknown resource type 'Foo'", text);
    }
}
