using System.Text.Json;
using HealthTrain.Station.Mapping;
using Xunit.Abstractions;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>Synthea's own FHIR export of a data set, with the resources the peer check compares.</summary>
public sealed class SyntheaFhirExport
{
    private static readonly HashSet<string> Kept = ["Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Medication", "Procedure", "Immunization"];

    public Dictionary<string, List<JsonElement>> ByType { get; } = [];

    public Dictionary<string, JsonElement> Medications { get; } = [];

    public HashSet<string> PatientIds { get; } = [];

    public static SyntheaFhirExport Load(string fhirFolder)
    {
        var export = new SyntheaFhirExport();
        foreach (var file in Directory.EnumerateFiles(fhirFolder, "*.json").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(file);
            if (name.StartsWith("hospitalInformation", StringComparison.Ordinal) || name.StartsWith("practitionerInformation", StringComparison.Ordinal))
            {
                continue;
            }

            using var bundle = JsonDocument.Parse(File.ReadAllBytes(file));
            foreach (var entry in bundle.RootElement.GetProperty("entry").EnumerateArray())
            {
                var resource = entry.GetProperty("resource");
                var type = resource.GetProperty("resourceType").GetString()!;
                if (!Kept.Contains(type))
                {
                    continue;
                }

                var kept = resource.Clone();
                if (!export.ByType.TryGetValue(type, out var list))
                {
                    export.ByType[type] = list = [];
                }

                list.Add(kept);
                if (type == "Medication")
                {
                    export.Medications[kept.GetProperty("id").GetString()!] = kept;
                }
                else if (type == "Patient")
                {
                    export.PatientIds.Add(kept.GetProperty("id").GetString()!);
                }
            }
        }

        return export;
    }

    public List<JsonElement> Of(string type) => ByType.GetValueOrDefault(type) ?? [];
}

/// <summary>synthea-csv-fhir-ma-11 mapped once for all its tests.</summary>
public sealed class Ma11Fixture
{
    public Ma11Fixture()
    {
        var folder = MappingTestData.Unpack("synthea-csv-fhir-ma-11");
        CsvFolder = Path.Combine(folder, "csv");
        Fhir = SyntheaFhirExport.Load(Path.Combine(folder, "fhir"));
        var source = new SyntheaCsvSource(MappingTestData.MappingDirectory("synthea-csv"));
        Run = MappedRun.Collect(source.Read(CsvFolder, Report, CancellationToken.None));
    }

    public string CsvFolder { get; }

    public SyntheaFhirExport Fhir { get; }

    public MappingRunReport Report { get; } = new();

    public MappedRun Run { get; }
}

/// <summary>
/// The peer check: our mapping of Synthea's CSV against Synthea's own FHIR export of the same 10 patients
/// (the 11th, Cameron381, is in the CSV only: its FHIR file is missing from the data set).
/// </summary>
public sealed class SyntheaPeerComparisonTests(Ma11Fixture data, ITestOutputHelper output) : IClassFixture<Ma11Fixture>
{
    private const string CsvOnlyPatient = "0432d0f1";

    private List<JsonElement> Ours(string type, string patientElement = "subject") =>
        data.Run.OfType(type)
            .Select(r => r.Json)
            .Where(json => type == "Patient" ? data.Fhir.PatientIds.Contains(json.GetProperty("id").GetString()!) : data.Fhir.PatientIds.Contains(FhirFacts.RefId(json, patientElement)))
            .ToList();

    private void Report(string type, int ours, int theirs, int matched, string note = "") =>
        output.WriteLine($"{type,-18} ours {ours,5}  Synthea FHIR {theirs,5}  matched {matched,5}  {note}");

    private static void AssertSameMultiset(string type, IEnumerable<string> ours, IEnumerable<string> theirs)
    {
        var left = ours.GroupBy(k => k).ToDictionary(g => g.Key, g => g.Count());
        var right = theirs.GroupBy(k => k).ToDictionary(g => g.Key, g => g.Count());
        var onlyOurs = left.Where(kv => right.GetValueOrDefault(kv.Key) < kv.Value).Select(kv => kv.Key).Take(5).ToList();
        var onlyTheirs = right.Where(kv => left.GetValueOrDefault(kv.Key) < kv.Value).Select(kv => kv.Key).Take(5).ToList();
        Assert.True(onlyOurs.Count == 0 && onlyTheirs.Count == 0, $"{type}: only in ours: [{string.Join("; ", onlyOurs)}] only in Synthea's FHIR: [{string.Join("; ", onlyTheirs)}]");
    }

    [Fact]
    public void Every_row_maps_without_errors_and_every_resource_is_valid_R4()
    {
        Assert.Empty(data.Run.Errors);
        Assert.Empty(data.Report.FileErrors);
        foreach (var resource in data.Run.Resources)
        {
            Assert.Null(FhirResourceValidator.Validate(resource.Json.GetRawText(), resource.Type));
        }

        // Every CSV row is a resource or a documented skip.
        foreach (var table in data.Report.Tables)
        {
            Assert.Equal(table.Rows, table.Resources + table.Skipped.Values.Sum());
            output.WriteLine($"{table.File,-20} rows {table.Rows,5} → {table.ResourceType,-18} {table.Resources,5}, skipped {table.Skipped.Values.Sum()}");
        }
    }

    [Fact]
    public void Ids_are_unique_and_references_resolve()
    {
        var ids = data.Run.Resources.Select(r => $"{r.Type}/{r.Id}").ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        var known = ids.ToHashSet();
        var references = data.Run.Resources
            .SelectMany(r => References(r.Json))
            .ToList();
        Assert.NotEmpty(references);
        Assert.All(references, reference => Assert.Contains(reference, known));
    }

    internal static IEnumerable<string> References(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == "reference" && property.Value.ValueKind == JsonValueKind.String)
                    {
                        yield return property.Value.GetString()!;
                    }
                    else
                    {
                        foreach (var inner in References(property.Value))
                        {
                            yield return inner;
                        }
                    }
                }

                break;
            case JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    foreach (var inner in References(item))
                    {
                        yield return inner;
                    }
                }

                break;
        }
    }

    [Fact]
    public void Patients_are_the_same_people()
    {
        var all = data.Run.OfType("Patient").Select(p => p.Id).ToList();
        Assert.Equal(11, all.Count);
        Assert.StartsWith(CsvOnlyPatient, Assert.Single(all, id => !data.Fhir.PatientIds.Contains(id)));

        var theirs = data.Fhir.Of("Patient").ToDictionary(p => p.GetProperty("id").GetString()!);
        var ours = Ours("Patient");
        Assert.Equal(theirs.Keys.Order(), ours.Select(p => p.GetProperty("id").GetString()!).Order());
        foreach (var patient in ours)
        {
            var synthea = theirs[patient.GetProperty("id").GetString()!];
            Assert.Equal(PatientKey(synthea), PatientKey(patient));

            // Known difference: the CSV has no MARITAL for children, Synthea's FHIR says S (never married).
            if (patient.TryGetProperty("maritalStatus", out var marital))
            {
                Assert.Equal(FhirFacts.FirstCoding(synthea.GetProperty("maritalStatus")), FhirFacts.FirstCoding(marital));
            }
        }

        Report("Patient", ours.Count, theirs.Count, ours.Count, "(+1 CSV-only patient without a FHIR file)");
    }

    internal static string PatientKey(JsonElement p)
    {
        var name = p.GetProperty("name").EnumerateArray().First(n => FhirFacts.Str(n, "use") == "official");
        var address = p.GetProperty("address")[0];
        string Omb(string url) =>
            p.GetProperty("extension").EnumerateArray()
                .Where(e => FhirFacts.Str(e, "url") == url)
                .SelectMany(e => e.GetProperty("extension").EnumerateArray())
                .Where(e => FhirFacts.Str(e, "url") == "ombCategory")
                .Select(e => FhirFacts.Str(e.GetProperty("valueCoding"), "code"))
                .FirstOrDefault() ?? "";
        return string.Join(" | ",
            FhirFacts.Str(p, "gender"),
            FhirFacts.Str(p, "birthDate"),
            FhirFacts.Str(p, "deceasedDateTime") is { Length: >= 10 } deceased ? deceased[..10] : "",
            FhirFacts.Str(name, "family"),
            name.GetProperty("given")[0].GetString(),
            FhirFacts.Str(address, "city"),
            FhirFacts.Str(address, "postalCode"),
            address.GetProperty("line")[0].GetString(),
            p.GetProperty("identifier").EnumerateArray().First(i => FhirFacts.Str(i, "system") == "http://hl7.org/fhir/sid/us-ssn").GetProperty("value").GetString(),
            Omb("http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"),
            Omb("http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity"));
    }

    [Fact]
    public void Encounters_have_the_same_ids_and_contents()
    {
        var theirs = data.Fhir.Of("Encounter").ToDictionary(e => e.GetProperty("id").GetString()!);
        var ours = Ours("Encounter");
        Assert.Equal(theirs.Count, ours.Count);
        foreach (var encounter in ours)
        {
            Assert.Equal(FhirFacts.EncounterKey(theirs[encounter.GetProperty("id").GetString()!]), FhirFacts.EncounterKey(encounter));
        }

        Report("Encounter", ours.Count, theirs.Count, ours.Count, "(same ids)");
    }

    [Fact]
    public void Conditions_have_the_same_codes_and_dates()
    {
        var ours = Ours("Condition");
        var theirs = data.Fhir.Of("Condition");
        AssertSameMultiset("Condition", ours.Select(FhirFacts.ConditionKey), theirs.Select(FhirFacts.ConditionKey));
        Assert.Equal(237, ours.Count);
        Report("Condition", ours.Count, theirs.Count, ours.Count, "(SNOMED code, onset/abatement date, clinical status)");
    }

    [Fact]
    public void Medication_requests_procedures_and_immunizations_match()
    {
        var medications = Ours("MedicationRequest");
        var theirMedications = data.Fhir.Of("MedicationRequest");
        AssertSameMultiset("MedicationRequest", medications.Select(m => FhirFacts.MedicationRequestKey(m, data.Fhir.Medications)), theirMedications.Select(m => FhirFacts.MedicationRequestKey(m, data.Fhir.Medications)));
        var byReference = theirMedications.Count(m => m.TryGetProperty("medicationReference", out _));
        Report("MedicationRequest", medications.Count, theirMedications.Count, medications.Count, $"({byReference} of Synthea's use medicationReference to a Medication; compared by its code)");

        var procedures = Ours("Procedure");
        var theirProcedures = data.Fhir.Of("Procedure");
        AssertSameMultiset("Procedure", procedures.Select(p => FhirFacts.ProcedureKey(p)), theirProcedures.Select(p => FhirFacts.ProcedureKey(p)));
        Report("Procedure", procedures.Count, theirProcedures.Count, procedures.Count);

        var immunizations = Ours("Immunization", "patient");
        var theirImmunizations = data.Fhir.Of("Immunization");
        AssertSameMultiset("Immunization", immunizations.Select(FhirFacts.ImmunizationKey), theirImmunizations.Select(FhirFacts.ImmunizationKey));
        Report("Immunization", immunizations.Count, theirImmunizations.Count, immunizations.Count);

        Assert.Equal([107, 689, 109], [medications.Count, procedures.Count, immunizations.Count]);
    }

    [Fact]
    public void Observations_have_the_same_codes_values_units_and_dates()
    {
        var ours = Ours("Observation").SelectMany(FhirFacts.ObservationFacts).ToList();
        var theirObservations = data.Fhir.Of("Observation");
        var theirs = theirObservations.SelectMany(FhirFacts.ObservationFacts).ToList();

        // Known difference 1: Synthea's FHIR puts blood pressure (85354-9) and PRAPARE (93025-5) rows in panels with
        // components; the CSV (and so our mapping) has one row per component. Flattened, the counts must agree.
        var panels = theirObservations.Where(o => o.TryGetProperty("component", out _)).ToList();
        Assert.All(panels, p => Assert.Contains(FhirFacts.FirstCoding(p.GetProperty("code")).Code, new[] { "85354-9", "93025-5" }));
        Assert.Equal(theirObservations.Count - panels.Count + panels.Sum(p => p.GetProperty("component").GetArrayLength()), ours.Count);
        Assert.Equal(2621, ours.Count);

        // Every fact pairs with exactly one of Synthea's, with the same patient, encounter, instant, category and LOINC code.
        var unmatched = theirs.GroupBy(f => (f.Patient, f.Encounter, f.Instant, f.Code)).ToDictionary(g => g.Key, g => g.ToList());
        var mismatches = new List<string>();
        var agreement = new Dictionary<string, int>();
        foreach (var fact in ours)
        {
            var candidates = unmatched.GetValueOrDefault((fact.Patient, fact.Encounter, fact.Instant, fact.Code));
            var match = candidates?.FirstOrDefault(candidate => FhirFacts.SameValue(fact, candidate));
            if (match is null)
            {
                mismatches.Add($"{fact} vs [{string.Join("; ", candidates ?? [])}]");
                continue;
            }

            var how = fact.Kind == "number" ? FhirFacts.NumberAgreement(fact.Number, match.Number)! : "text";
            agreement[how] = agreement.GetValueOrDefault(how) + 1;
            candidates!.Remove(match);
        }

        Assert.True(mismatches.Count == 0, $"{mismatches.Count} observation values differ, e.g. {string.Join("\n", mismatches.Take(5))}");
        Assert.Empty(unmatched.Values.SelectMany(v => v));

        // Known difference 2: QALY, DALY and QOLS rows are skipped (Synthea's FHIR has them as Patient extensions, or not at all).
        var csvRows = CountCsvRows(Path.Combine(data.CsvFolder, "observations.csv"), data.Fhir.PatientIds);
        var skipped = data.Report.Tables.Single(t => t.File == "observations.csv").Skipped.Values.Single();
        Assert.Equal(336, skipped);
        Assert.Equal(csvRows.Total, ours.Count + csvRows.Skippable);
        Assert.Equal(309, csvRows.Skippable);

        Report("Observation", Ours("Observation").Count, theirObservations.Count, ours.Count, $"(as values: {theirs.Count} of Synthea's, {panels.Count} panels flattened; {string.Join(", ", agreement.OrderBy(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"))}; {csvRows.Skippable} QALY/DALY/QOLS rows skipped)");

        // The diabetes task's codes are all there.
        Assert.Equal(32, data.Run.OfType("Observation").Count(o => FhirFacts.FirstCoding(o.Json.GetProperty("code")).Code == "4548-4"));
        Assert.Equal(86, data.Run.OfType("Observation").Count(o => FhirFacts.FirstCoding(o.Json.GetProperty("code")).Code == "39156-5"));
        Assert.Equal(88, data.Run.OfType("Observation").Count(o => FhirFacts.FirstCoding(o.Json.GetProperty("code")).Code == "8480-6"));
    }

    private static (int Total, int Skippable) CountCsvRows(string file, HashSet<string> patients)
    {
        using var csv = new CsvReader(File.OpenRead(file));
        var rows = csv.ReadAll().ToList();
        var header = rows[0].Fields.ToList();
        var patient = header.IndexOf("PATIENT");
        var code = header.IndexOf("CODE");
        var mine = rows.Skip(1).Where(r => patients.Contains(r.Fields[patient])).ToList();
        return (mine.Count, mine.Count(r => r.Fields[code] is "QALY" or "DALY" or "QOLS"));
    }
}
