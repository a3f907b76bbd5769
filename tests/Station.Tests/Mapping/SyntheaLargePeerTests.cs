using System.Text.Json;
using HealthTrain.Station.Mapping;
using Xunit.Abstractions;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>
/// The peer check at scale: synthea-csv-fhir-ma-112 (115 patients in CSV, 112 with FHIR bundles; no observations.csv).
/// In this data set the CSV and the FHIR were written with different encounter UUIDs (patient ids agree), so encounters
/// are paired by patient, start, end and type, and that pairing must be one-to-one; the other resources are then
/// compared through it.
/// </summary>
public sealed class SyntheaLargePeerTests(ITestOutputHelper output)
{
    [Fact]
    public void Ma112_patients_encounters_conditions_medications_procedures_immunizations()
    {
        var folder = MappingTestData.Unpack("synthea-csv-fhir-ma-112");
        var fhir = SyntheaFhirExport.Load(Path.Combine(folder, "fhir"));
        var report = new MappingRunReport();
        var run = MappedRun.Collect(new SyntheaCsvSource(MappingTestData.MappingDirectory("synthea-csv")).Read(Path.Combine(folder, "csv"), report, CancellationToken.None));

        Assert.Empty(run.Errors);
        Assert.DoesNotContain(report.Tables, t => t.File == "observations.csv");
        var ids = run.Resources.Select(r => $"{r.Type}/{r.Id}").ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var known = ids.ToHashSet();
        Assert.All(run.Resources.SelectMany(r => SyntheaPeerComparisonTests.References(r.Json)), reference => Assert.Contains(reference, known));

        // Patients: the 112 with bundles have the same ids and demographics; the 3 others are the ones whose bundles are missing.
        var ourPatients = run.OfType("Patient").ToDictionary(p => p.Id, p => p.Json);
        Assert.Equal(115, ourPatients.Count);
        Assert.Subset(ourPatients.Keys.ToHashSet(), fhir.PatientIds);
        var csvOnly = ourPatients.Where(p => !fhir.PatientIds.Contains(p.Key)).Select(p => p.Value.GetProperty("name")[0].GetProperty("given")[0].GetString()).Order().ToList();
        Assert.Equal(["Broderick767", "Kati243", "Shayne60"], csvOnly);
        foreach (var patient in fhir.Of("Patient"))
        {
            Assert.Equal(SyntheaPeerComparisonTests.PatientKey(patient), SyntheaPeerComparisonTests.PatientKey(ourPatients[patient.GetProperty("id").GetString()!]));
        }

        List<JsonElement> Ours(string type, string patientElement = "subject") =>
            run.OfType(type).Select(r => r.Json).Where(j => fhir.PatientIds.Contains(FhirFacts.RefId(j, patientElement))).ToList();

        // Encounters: pair by everything but the id, one to one.
        var ourEncounters = Ours("Encounter");
        var theirEncounters = fhir.Of("Encounter");
        var theirByKey = theirEncounters.GroupBy(FhirFacts.EncounterKey).ToDictionary(g => g.Key, g => g.ToList());
        Assert.All(theirByKey.Values, group => Assert.Single(group));
        var translate = new Dictionary<string, string>();
        foreach (var encounter in ourEncounters)
        {
            var key = FhirFacts.EncounterKey(encounter);
            Assert.True(theirByKey.TryGetValue(key, out var match), $"no FHIR encounter for {key}");
            translate.Add(encounter.GetProperty("id").GetString()!, match![0].GetProperty("id").GetString()!);
        }

        Assert.Equal(theirEncounters.Count, translate.Count);
        Assert.Equal(translate.Count, translate.Values.Distinct().Count());
        var sameIds = translate.Count(kv => kv.Key == kv.Value);
        output.WriteLine($"Encounter          ours {ourEncounters.Count,5}  Synthea FHIR {theirEncounters.Count,5}  paired one-to-one by patient/start/end/type ({sameIds} with the same id)");

        string Translated(string key, JsonElement resource)
        {
            var encounter = FhirFacts.RefId(resource, "encounter");
            return key.Replace(" | " + encounter + " | ", " | " + translate[encounter] + " | ", StringComparison.Ordinal);
        }

        void Compare(string type, Func<JsonElement, string> key, string patientElement = "subject", int? expected = null)
        {
            var ours = Ours(type, patientElement);
            var theirs = fhir.Of(type);
            var left = ours.Select(r => Translated(key(r), r)).Order(StringComparer.Ordinal).ToList();
            var right = theirs.Select(key).Order(StringComparer.Ordinal).ToList();
            var onlyOurs = left.Except(right).Take(3).ToList();
            var onlyTheirs = right.Except(left).Take(3).ToList();
            Assert.True(left.SequenceEqual(right), $"{type}: only ours [{string.Join("; ", onlyOurs)}] only Synthea's [{string.Join("; ", onlyTheirs)}]");
            if (expected is not null)
            {
                Assert.Equal(expected, ours.Count);
            }

            output.WriteLine($"{type,-18} ours {ours.Count,5}  Synthea FHIR {theirs.Count,5}  matched {ours.Count,5}");
        }

        Compare("Condition", FhirFacts.ConditionKey, expected: 1389);
        Compare("MedicationRequest", m => FhirFacts.MedicationRequestKey(m, fhir.Medications), expected: 3642);
        // Known difference: this export's procedures.csv is the 2.x layout (DATE, no STOP), so there is no end to compare.
        Assert.DoesNotContain(run.OfType("Procedure"), p => p.Json.GetProperty("performedPeriod").TryGetProperty("end", out _));
        Compare("Procedure", p => FhirFacts.ProcedureKey(p, withEnd: false), expected: 3100);
        Compare("Immunization", FhirFacts.ImmunizationKey, "patient", 1470);
        output.WriteLine($"Patient            ours {ourPatients.Count,5}  Synthea FHIR {fhir.PatientIds.Count,5}  matched {fhir.PatientIds.Count,5}  (+3 CSV-only patients without bundles)");
    }
}
