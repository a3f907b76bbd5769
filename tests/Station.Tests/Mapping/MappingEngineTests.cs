using System.IO.Compression;
using System.Text.Json;
using HealthTrain.Station.Mapping;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>The engine on small hand-written mapping sets and exports: rules, conditions, errors, layouts.</summary>
public sealed class MappingEngineTests
{
    private const string SetJson = """
        {
          "format": "test-csv",
          "idNamespace": "0b4c1a2e-8a51-4f0e-9a57-6f3b9b6f2c11",
          "codeSystems": { "LOINC": "http://loinc.org", "UCUM": "http://unitsofmeasure.org", "SNOMED": "http://snomed.info/sct" },
          "tables": [ { "mapping": "people.json", "required": true }, { "mapping": "labs.json" } ],
          "rejectLayouts": [ { "name": "old", "file": "people.csv", "headerHas": ["ID"], "headerLacks": ["Id"], "message": "too old" } ]
        }
        """;

    private const string PeopleJson = """
        {
          "table": "people", "file": "people.csv", "resourceType": "Patient",
          "columns": { "required": ["Id", "SEX"], "optional": ["BORN", "FIRST", "LAST", "NICK", "DIED"] },
          "id": { "column": "Id" },
          "lookups": [ { "name": "death", "file": "deaths.csv", "key": "PID", "on": "Id", "columns": ["WHEN"] } ],
          "rules": [
            { "path": "gender", "column": "SEX", "type": "code", "map": { "M": "male", "F": "female", "X": null } },
            { "path": "birthDate", "column": "BORN", "type": "date" },
            { "path": "name[0]", "when": { "column": "LAST", "empty": false }, "rules": [
              { "path": "use", "value": "official", "type": "code" },
              { "path": "family", "column": "LAST" },
              { "path": "given[0]", "column": "FIRST" }
            ] },
            { "path": "name[1].text", "template": "{NICK} the nickname" },
            { "path": "deceasedDateTime", "column": ["death.WHEN", "DIED"], "type": "dateTime" }
          ]
        }
        """;

    private const string LabsJson = """
        {
          "table": "labs", "file": "labs.csv", "resourceType": "Observation",
          "columns": { "required": ["PATIENT", "DATE", "CODE", "VALUE"], "optional": ["UNITS"] },
          "id": { "derive": ["PATIENT", "DATE", "CODE"] },
          "skip": [ { "when": { "column": "CODE", "equals": "IGNORE" }, "reason": "not a lab" } ],
          "rules": [
            { "path": "status", "value": "final", "type": "code" },
            { "path": "code", "codeableConcept": { "system": { "value": "LOINC" }, "code": "CODE" } },
            { "path": "subject", "reference": { "type": "Patient", "id": "PATIENT" } },
            { "path": "effectiveDateTime", "column": "DATE", "type": "dateTime" },
            { "path": "valueQuantity", "when": { "column": "VALUE", "number": true }, "quantity": { "value": "VALUE", "unit": "UNITS", "system": { "value": "UCUM" }, "code": "UNITS" } },
            { "path": "valueString", "when": { "column": "VALUE", "number": false }, "column": "VALUE" }
          ]
        }
        """;

    private static string MappingFolder(string? people = null, string? labs = null, string? set = null)
    {
        var folder = MappingTestData.NewTempFolder();
        File.WriteAllText(Path.Combine(folder, "mapping-set.json"), set ?? SetJson);
        File.WriteAllText(Path.Combine(folder, "people.json"), people ?? PeopleJson);
        File.WriteAllText(Path.Combine(folder, "labs.json"), labs ?? LabsJson);
        return folder;
    }

    private static string Export(params (string Name, string Text)[] files)
    {
        var folder = MappingTestData.NewTempFolder();
        foreach (var (name, text) in files)
        {
            File.WriteAllText(Path.Combine(folder, name), text);
        }

        return folder;
    }

    private static (MappedRun Run, MappingRunReport Report) Run(string mappings, string export)
    {
        var set = MappingSet.Load(mappings);
        var report = new MappingRunReport();
        return (MappedRun.Collect(set.Read(export, report, CancellationToken.None)), report);
    }

    [Fact]
    public void Rows_become_valid_resources_with_groups_templates_lookups_and_fallbacks()
    {
        var (run, report) = Run(MappingFolder(), Export(
            ("people.csv", "Id,SEX,BORN,FIRST,LAST,NICK,DIED\np1,F,1980-02-03,Ann,Lee,Annie,\np2,M,1990,,,,2001-01-01\n"),
            ("deaths.csv", "PID,WHEN\np1,2020-05-05T10:00:00Z\n"),
            ("labs.csv", "PATIENT,DATE,CODE,VALUE,UNITS\np1,2020-01-01T08:00:00Z,4548-4,6.10,%\np1,2020-01-01T08:00:00Z,72166-2,Never smoked,\np1,2020-01-02T08:00:00Z,IGNORE,1,\n")));

        Assert.Empty(run.Errors);
        var p1 = run.OfType("Patient").Single(p => p.Id == "p1").Json;
        Assert.Equal("female", p1.GetProperty("gender").GetString());
        Assert.Equal("Lee", p1.GetProperty("name")[0].GetProperty("family").GetString());
        Assert.Equal("Annie the nickname", p1.GetProperty("name")[1].GetProperty("text").GetString());
        Assert.Equal("2020-05-05T10:00:00Z", p1.GetProperty("deceasedDateTime").GetString());

        // No name columns: the group's constant "use" alone does not make a name, and the empty template writes nothing.
        var p2 = run.OfType("Patient").Single(p => p.Id == "p2").Json;
        Assert.False(p2.TryGetProperty("name", out _));
        Assert.Equal("1990", p2.GetProperty("birthDate").GetString());
        Assert.Equal("2001-01-01", p2.GetProperty("deceasedDateTime").GetString());

        var labs = run.OfType("Observation").ToList();
        Assert.Equal(2, labs.Count);
        var hba1c = labs.Single(l => l.Json.GetProperty("code").GetProperty("coding")[0].GetProperty("code").GetString() == "4548-4").Json;
        Assert.Equal("6.10", hba1c.GetProperty("valueQuantity").GetProperty("value").GetRawText());
        Assert.Equal("http://unitsofmeasure.org", hba1c.GetProperty("valueQuantity").GetProperty("system").GetString());
        Assert.Equal("Patient/p1", hba1c.GetProperty("subject").GetProperty("reference").GetString());
        var smoking = labs.Single(l => l.Json.TryGetProperty("valueString", out _)).Json;
        Assert.Equal("Never smoked", smoking.GetProperty("valueString").GetString());
        Assert.False(smoking.TryGetProperty("valueQuantity", out _));

        var labStats = report.Tables.Single(t => t.File == "labs.csv");
        Assert.Equal(3, labStats.Rows);
        Assert.Equal(2, labStats.Resources);
        Assert.Equal(1, labStats.Skipped["not a lab"]);
        Assert.Equal("labs.csv:2", labs[0].Position);
    }

    [Fact]
    public void Derived_ids_are_the_same_on_every_run()
    {
        var mappings = MappingFolder();
        var export = Export(("people.csv", "Id,SEX\np1,F\n"), ("labs.csv", "PATIENT,DATE,CODE,VALUE\np1,2020-01-01,4548-4,6\n"));
        var first = Run(mappings, export).Run.Resources.Select(r => r.Id).ToList();
        var second = Run(mappings, export).Run.Resources.Select(r => r.Id).ToList();
        Assert.Equal(first, second);
        Assert.Equal(DeterministicId.ForRow(Guid.Parse("0b4c1a2e-8a51-4f0e-9a57-6f3b9b6f2c11"), "labs", ["p1", "2020-01-01", "4548-4"]), first[1]);
    }

    [Fact]
    public void Bad_rows_are_quarantined_with_their_position_and_reason()
    {
        var (run, report) = Run(MappingFolder(), Export(
            ("people.csv", "Id,SEX,BORN\np1,Q,1980-01-01\np2,F,1980-02-31\np 3,F,1980-01-01\np4,F\np5,X,1980-01-01\n"),
            ("labs.csv", "PATIENT,DATE,CODE,VALUE\np1,2020-01-01 10:00:00,4548-4,6\n")));

        // X maps to "no gender": p5 is a valid Patient without one.
        Assert.Equal(["p5"], run.Resources.Select(r => r.Id));
        var errors = run.Errors.ToDictionary(e => e.Position, e => e.Error!);
        Assert.Contains("column SEX: value 'Q' has no mapping", errors["people.csv:2"]);
        Assert.Contains("Patient.birthDate", errors["people.csv:3"]);
        Assert.Contains("day 31", errors["people.csv:3"]);
        Assert.Contains("not a FHIR id", errors["people.csv:4"]);
        Assert.Contains("2 fields", errors["people.csv:5"]);
        Assert.DoesNotContain("people.csv:6", errors.Keys);
        Assert.Contains("has a time but no time zone", errors["labs.csv:2"]);
        Assert.Equal(4, report.Tables.Single(t => t.File == "people.csv").Errors);
    }

    [Fact]
    public void Resources_that_are_not_valid_R4_are_quarantined_with_the_firely_reason()
    {
        // A mapping that writes a status outside the ObservationStatus value set, and forgets code on some rows.
        var labs = LabsJson.Replace("""{ "path": "status", "value": "final", "type": "code" },""", """{ "path": "status", "column": "VALUE", "type": "code" },""", StringComparison.Ordinal);
        var (run, _) = Run(MappingFolder(labs: labs), Export(
            ("people.csv", "Id,SEX\np1,F\n"),
            ("labs.csv", "PATIENT,DATE,CODE,VALUE\np1,2020-01-01,4548-4,final\np1,2020-01-01,4548-5,bogus\n")));

        var error = Assert.Single(run.Errors);
        Assert.Equal("labs.csv:3", error.Position);
        Assert.StartsWith("not valid FHIR R4 (Observation)", error.Error);
        Assert.Contains("bogus", error.Error);
        Assert.Equal(2, run.Resources.Count);
    }

    [Fact]
    public void A_file_without_required_columns_is_one_clear_error_and_the_rest_still_maps()
    {
        var (run, report) = Run(MappingFolder(), Export(
            ("people.csv", "Id,SEX\np1,F\n"),
            ("labs.csv", "PATIENT,WHEN,CODE,RESULT\np1,2020-01-01,4548-4,6\n")));

        Assert.Single(run.Resources);
        var error = Assert.Single(run.Errors);
        Assert.Equal("labs.csv", error.Position);
        Assert.Contains("missing required column(s) DATE, VALUE", error.Error);
        Assert.Single(report.FileErrors);
    }

    [Fact]
    public void A_missing_required_file_and_a_missing_export_are_errors()
    {
        var (run, _) = Run(MappingFolder(), Export(("labs.csv", "PATIENT,DATE,CODE,VALUE\n")));
        Assert.Equal("people.csv", Assert.Single(run.Errors).Position);

        var (missing, _) = Run(MappingFolder(), "/nonexistent/export");
        Assert.Contains("cannot open the test-csv export", Assert.Single(missing.Errors).Error);
    }

    [Fact]
    public void A_rejected_layout_stops_the_whole_export()
    {
        var (run, _) = Run(MappingFolder(), Export(
            ("people.csv", "ID,SEX\np1,F\n"),
            ("labs.csv", "PATIENT,DATE,CODE,VALUE\np1,2020-01-01,4548-4,6\n")));
        Assert.Empty(run.Resources);
        Assert.Equal(["labs.csv", "people.csv"], run.Errors.Select(e => e.Position).Order());
        Assert.All(run.Errors, e => Assert.Contains("old layout", e.Error));
    }

    [Fact]
    public void Malformed_csv_rows_are_errors_and_reading_goes_on()
    {
        var (run, _) = Run(MappingFolder(), Export(
            ("people.csv", "Id,SEX\np1,\"F\"x\np2,M\np3,\"F\n")));
        Assert.Equal(["p2"], run.Resources.Select(r => r.Id));
        Assert.Contains("malformed CSV", run.Errors.Single(e => e.Position == "people.csv:2").Error);
        Assert.Contains("unterminated", run.Errors.Single(e => e.Position == "people.csv:4").Error);
    }

    [Fact]
    public void Exports_can_be_zipped()
    {
        var folder = Export(("people.csv", "Id,SEX\np1,F\n"));
        var zip = Path.Combine(MappingTestData.NewTempFolder(), "export.zip");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            archive.CreateEntryFromFile(Path.Combine(folder, "people.csv"), "export/people.csv");
            archive.CreateEntry("__MACOSX/export/._people.csv").Open().Dispose();
        }

        var (run, _) = Run(MappingFolder(), zip);
        Assert.Empty(run.Errors);
        Assert.Equal("export/people.csv:2", Assert.Single(run.Resources).Position);
    }

    [Fact]
    public void Cancellation_stops_the_stream()
    {
        var set = MappingSet.Load(MappingFolder());
        var export = Export(("people.csv", "Id,SEX\np1,F\np2,M\n"));
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(() => set.Read(export, null, cancel.Token).ToList());
    }

    [Theory]
    [InlineData("""{ "path": "gender", "column": "NOPE" }""", "column 'NOPE' is used by a rule but not declared")]
    [InlineData("""{ "path": "gender", "colum": "SEX" }""", "colum")]
    [InlineData("""{ "path": "gender..x", "column": "SEX" }""", "is not an element path")]
    [InlineData("""{ "path": "gender", "column": "SEX", "value": "male" }""", "exactly one of column, value or template")]
    [InlineData("""{ "path": "gender", "column": "SEX", "type": "text" }""", "unknown type 'text'")]
    [InlineData("""{ "path": "x", "coding": { "system": { "value": "NOSUCH" }, "code": "SEX" } }""", "neither a codeSystems alias nor an absolute URI")]
    [InlineData("""{ "path": "x", "reference": { "type": "Pateint", "id": "Id" } }""", "not a FHIR R4 resource type")]
    [InlineData("""{ "path": "x", "when": { "column": "SEX" }, "column": "SEX" }""", "exactly one of equals, in, empty or number")]
    public void Broken_mappings_fail_at_load(string rule, string expected)
    {
        var people = """
            { "table": "people", "file": "people.csv", "resourceType": "Patient",
              "columns": { "required": ["Id", "SEX"] }, "id": { "column": "Id" }, "rules": [ RULE ] }
            """.Replace("RULE", rule, StringComparison.Ordinal);
        var error = Assert.Throws<MappingDefinitionException>(() => MappingSet.Load(MappingFolder(people: people)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Rules_disagreeing_on_shape_quarantine_the_row_with_a_mapping_error()
    {
        var people = PeopleJson.Replace("""{ "path": "birthDate", "column": "BORN", "type": "date" },""", """{ "path": "birthDate", "column": "BORN", "type": "date" }, { "path": "birthDate.x", "column": "BORN" },""", StringComparison.Ordinal);
        var (run, _) = Run(MappingFolder(people: people), Export(("people.csv", "Id,SEX,BORN\np1,F,1980-01-01\n")));
        Assert.Contains("mapping error", Assert.Single(run.Errors).Error);
    }

    [Fact]
    public void Every_shipped_mapping_set_loads()
    {
        foreach (var format in new[] { "synthea-csv", "omop" })
        {
            var set = MappingSet.Load(MappingTestData.MappingDirectory(format));
            Assert.Equal(format, set.Format);
            Assert.NotEmpty(set.Tables);
            using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(set.Directory, "mapping-set.json")));
            Assert.Equal(format, json.RootElement.GetProperty("format").GetString());
        }
    }

    [Fact]
    public void The_default_constructors_find_the_repository_mappings()
    {
        Assert.Equal("synthea-csv", new SyntheaCsvSource().Format);
        Assert.Equal("omop", new OmopSource().Format);
        Assert.Throws<MappingDefinitionException>(() => new OmopSource(MappingTestData.MappingDirectory("synthea-csv")));
    }
}
