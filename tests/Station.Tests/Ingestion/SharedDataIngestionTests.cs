using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using static HealthTrain.Station.Tests.Ingestion.IngestionTestData;

namespace HealthTrain.Station.Tests.Ingestion;

/// <summary>The shared data sets other people wrote, good and bad (../shared/data/README.md).</summary>
public sealed class SharedDataIngestionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-ingest-shared-").FullName;
    private readonly FhirStore _store;

    public SharedDataIngestionTests()
    {
        _store = new FhirStore(Path.Combine(_dir, "fhir.db"));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Mimic_ndjson_ingests_100_patients_and_4181_conditions()
    {
        var report = new FhirIngestion(_store).Run(new FhirNdjsonSource(), DataSet("mimic-iv-demo-fhir-subset"));

        Assert.Equal(0, report.Quarantined);
        Assert.Equal(100, report.IngestedByType["Patient"]);
        Assert.Equal(4_181, report.IngestedByType["Condition"]);
        Assert.Equal(263 + 138, report.IngestedByType["Encounter"]);
        Assert.Equal(100, _store.Count("Patient"));
        Assert.Equal(4_181, _store.Count("Condition"));
        Assert.Equal(401, _store.Count("Encounter"));
        // Conditions point at patients and encounters that are all there; the subset lacks Organization and Location.
        Assert.Equal(["Location", "Organization"], report.DanglingByTargetType.Keys.Order());
        Assert.Equal(4_181, Scalar<long>(_store, "SELECT COUNT(*) FROM fhir_resources WHERE resource_type = 'Condition' AND subject LIKE 'Patient/%'"));
    }

    [Fact]
    public void Truncated_synthea_bundles_are_each_quarantined_whole_and_a_good_file_beside_them_loads()
    {
        var input = Path.Combine(_dir, "input");
        Directory.CreateDirectory(input);
        foreach (var file in Directory.GetFiles(DataSet("synthea-truncated-bundles")))
        {
            File.Copy(file, Path.Combine(input, Path.GetFileName(file)));
        }

        File.WriteAllText(Path.Combine(input, "good.json"), Bundle((Patient("good"), null), (Observation("good-o", "urn:uuid:good"), null)));

        var report = new FhirIngestion(_store).Run(new FhirBundleSource(), input);

        Assert.Equal(new Dictionary<string, long> { ["Observation"] = 1, ["Patient"] = 1 }, report.IngestedByType);
        var entries = IngestionLog.Quarantine(_store, report.RunId);
        Assert.Equal(8, entries.Count);
        Assert.All(entries, e => Assert.Contains(e.Category, (string[])[QuarantineCategory.Truncated, QuarantineCategory.InvalidJson]));
        Assert.All(entries, e => Assert.Contains("nothing from this file is ingested", e.Reason));
        Assert.All(entries, e => Assert.Matches(@"\(byte [\d,]+ of [\d,]+\)", e.Reason));
        // Two end mid-string at the end of the file; the others were cut and spliced mid-write, so the damage shows earlier.
        Assert.Equal(2, entries.Count(e => e.Category == QuarantineCategory.Truncated));
        Assert.Contains(entries, e => e.Position.StartsWith("Jerónimo599_Bétancourt447", StringComparison.Ordinal) && e.Category == QuarantineCategory.Truncated);
    }

    [Fact]
    public void Stu3_synthea_bundles_are_quarantined_as_stu3()
    {
        var report = new FhirIngestion(_store).Run(new FhirBundleSource(), DataSet("synthea-stu3-2018-sample"));

        var entries = IngestionLog.Quarantine(_store, report.RunId);
        Assert.Equal(QuarantineCategory.FhirStu3, Assert.Single(report.QuarantinedByCategory).Key);
        // Every entry of the seven patient bundles, including those that parse as R4 (Patient, Encounter, ...).
        var patientEntries = entries.Where(e => !e.Position.Contains("Information", StringComparison.Ordinal)).ToList();
        Assert.Equal(47 + 26 + 49 + 34 + 47 + 62 + 35, patientEntries.Count);
        Assert.Contains(patientEntries, e => e.Position.StartsWith("fhir/Rubén780_Valentín837_", StringComparison.Ordinal));
        Assert.All(entries, e => Assert.Contains("looks like FHIR STU3, not R4", e.Reason));
        Assert.Contains("Observation.context (R4: Observation.encounter)", patientEntries[0].Reason);
        // The hospital bundle carries SHR profiles (STU3); the practitioner bundle carries no STU3 mark and is valid R4.
        Assert.Equal(88, entries.Count(e => e.Position.StartsWith("fhir/hospitalInformation", StringComparison.Ordinal)));
        Assert.Equal(new Dictionary<string, long> { ["Practitioner"] = 88 }, report.IngestedByType);
        Assert.Equal(0, _store.Count("Observation"));
    }

    [Fact]
    public void Hl7_r4_examples_are_ingested_and_only_non_resources_and_their_references_are_quarantined()
    {
        var report = new FhirIngestion(_store).Run(new FhirBundleSource(), DataSet("fhir-r4-hl7-examples"));

        // The spec examples are valid R4: nothing fails the Firely parse or looks like STU3.
        Assert.DoesNotContain(QuarantineCategory.InvalidFhirR4, report.QuarantinedByCategory.Keys);
        Assert.DoesNotContain(QuarantineCategory.FhirStu3, report.QuarantinedByCategory.Keys);
        Assert.True(report.IngestedByType["Observation"] >= 19);
        Assert.True(report.IngestedByType["Patient"] >= 16);
        var entries = IngestionLog.Quarantine(_store, report.RunId);
        // bundle-response.json holds responses, not resources; transaction entries without ids cannot be keyed.
        Assert.All(
            entries,
            e => Assert.Contains(e.Category, (string[])[QuarantineCategory.NotAResource, QuarantineCategory.MissingId, QuarantineCategory.BrokenReference]));
        Assert.Contains(entries, e => e.Position.StartsWith("bundle-response.json, entry[", StringComparison.Ordinal) && e.Category == QuarantineCategory.NotAResource);
        // References to resources the examples do not include are kept and reported.
        Assert.True(report.DanglingReferences > 0);
        Assert.Equal(report.Records, report.Ingested + report.Quarantined);
    }
}
