using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Cli.Demo;

namespace HealthTrain.Trains.Tests.Demo;

public sealed class CitySplitTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-citysplit-").FullName;

    private string Input => Path.Combine(_dir, "input");

    public CitySplitTests() => Directory.CreateDirectory(Input);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Writes a Synthea-like patient bundle; a null city leaves the address without one, and no address at all when <paramref name="withAddress"/> is false.</summary>
    private string Patient(string name, string? city, bool withAddress = true, JsonObject? before = null)
    {
        var patient = new JsonObject { ["resourceType"] = "Patient", ["id"] = name };
        if (withAddress)
        {
            var address = new JsonObject { ["line"] = new JsonArray("1 Main St"), ["state"] = "MA" };
            if (city is not null)
            {
                address["city"] = city;
            }

            patient["address"] = new JsonArray(address, new JsonObject { ["city"] = "SecondAddressCity" });
        }

        var entries = new JsonArray();
        if (before is not null)
        {
            entries.Add(new JsonObject { ["fullUrl"] = "urn:uuid:before", ["resource"] = before });
        }

        entries.Add(new JsonObject { ["fullUrl"] = $"urn:uuid:{name}", ["resource"] = patient });
        entries.Add(new JsonObject
        {
            ["fullUrl"] = $"urn:uuid:{name}-enc",
            ["resource"] = new JsonObject { ["resourceType"] = "Encounter", ["id"] = $"{name}-enc", ["subject"] = new JsonObject { ["reference"] = $"urn:uuid:{name}" } },
        });
        return WriteBundle($"{name}.json", entries);
    }

    private string WriteBundle(string fileName, JsonArray entries)
    {
        var path = Path.Combine(Input, fileName);
        File.WriteAllText(path, new JsonObject { ["resourceType"] = "Bundle", ["type"] = "transaction", ["entry"] = entries }
            .ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    private void Organizations() => WriteBundle("hospitalInformation1.json", new JsonArray(
        new JsonObject { ["resource"] = new JsonObject { ["resourceType"] = "Organization", ["id"] = "org1", ["address"] = new JsonArray(new JsonObject { ["city"] = "Boston" }) } }));

    /// <summary>A population with cities of 5, 3, 3, 2, 1 patients plus one without a city.</summary>
    private void Population()
    {
        var cities = new[] { ("Aville", 5), ("Btown", 3), ("Cburg", 3), ("Dham", 2), ("Eton", 1) };
        foreach (var (city, count) in cities)
        {
            for (var i = 0; i < count; i++)
            {
                Patient($"{city.ToLowerInvariant()}{i}", city);
            }
        }

        Patient("nowhere0", city: null, withAddress: false);
        Organizations();
        WriteBundle("practitionerInformation1.json", new JsonArray(
            new JsonObject { ["resource"] = new JsonObject { ["resourceType"] = "Practitioner", ["id"] = "pr1" } }));
    }

    [Fact]
    public void Balances_cities_greedily_largest_first_onto_the_smallest_part()
    {
        Population();

        var result = CitySplit.Split(Input, Path.Combine(_dir, "out"), 3);

        // Aville 5 -> 1; Btown 3 -> 2; Cburg 3 -> 3; Dham 2 -> 2 (tie 3/3, lowest index); "(unknown)" 1 and Eton 1 (name order) -> 3 (then 4 < 5).
        Assert.Equal(["Aville"], result.Parts[0].Cities);
        Assert.Equal(["Btown", "Dham"], result.Parts[1].Cities);
        Assert.Equal(["Cburg", CitySplit.UnknownCity, "Eton"], result.Parts[2].Cities);
        Assert.Equal([5, 5, 5], result.Parts.Select(p => p.PatientCount));
        Assert.Equal([1, 2, 3], result.Parts.Select(p => p.Number));
        Assert.Equal(["hospitalInformation1.json", "practitionerInformation1.json"], result.SharedFiles);
    }

    [Fact]
    public void Every_patient_lands_in_exactly_one_part_with_its_whole_city_and_shared_files_in_all()
    {
        Population();

        var result = CitySplit.Split(Input, Path.Combine(_dir, "out"), 2);

        var patientFiles = Directory.GetFiles(Input).Select(Path.GetFileName).Where(f => !result.SharedFiles.Contains(f)).ToList();
        Assert.Equal(15, patientFiles.Count);
        foreach (var file in patientFiles)
        {
            Assert.Single(result.Parts, p => p.Files.Contains(file));
            Assert.Single(result.Parts, p => File.Exists(Path.Combine(p.Folder, file!)));
        }

        foreach (var part in result.Parts)
        {
            Assert.Equal(part.Files.Order(StringComparer.Ordinal), Directory.GetFiles(part.Folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
            Assert.Contains("hospitalInformation1.json", part.Files);
            Assert.Contains("practitionerInformation1.json", part.Files);
            Assert.Equal(part.PatientCount, part.Files.Count - 2);
            foreach (var file in part.Files.Except(result.SharedFiles))
            {
                Assert.Contains(CitySplit.FindCity(Path.Combine(part.Folder, file)), part.Cities);
            }
        }

        Assert.Empty(result.Parts[0].Cities.Intersect(result.Parts[1].Cities));
        Assert.Equal(15, result.Parts.Sum(p => p.PatientCount));
    }

    [Fact]
    public void Is_deterministic()
    {
        Population();

        var first = CitySplit.Split(Input, Path.Combine(_dir, "a"), 3);
        var second = CitySplit.Split(Input, Path.Combine(_dir, "b"), 3);
        var again = CitySplit.Split(Input, Path.Combine(_dir, "a"), 3);

        foreach (var other in new[] { second, again })
        {
            Assert.Equal(first.Parts.Select(p => p.Cities), other.Parts.Select(p => p.Cities));
            Assert.Equal(first.Parts.Select(p => p.Files), other.Parts.Select(p => p.Files));
        }
    }

    [Fact]
    public void Links_rather_than_copies()
    {
        var source = Patient("p1", "Aville");

        var result = CitySplit.Split(Input, Path.Combine(_dir, "out"), 1);

        // A hard link is the same file: a change to the source shows in the part.
        File.AppendAllText(source, "\n");
        Assert.Equal(File.ReadAllText(source), File.ReadAllText(Path.Combine(result.Parts[0].Folder, "p1.json")));
        Assert.False(new FileInfo(Path.Combine(result.Parts[0].Folder, "p1.json")).Attributes.HasFlag(FileAttributes.ReparsePoint));
    }

    [Fact]
    public void More_parts_than_cities_leaves_parts_with_only_the_shared_files()
    {
        Patient("p1", "Aville");
        Organizations();

        var result = CitySplit.Split(Input, Path.Combine(_dir, "out"), 3);

        Assert.Equal([1, 0, 0], result.Parts.Select(p => p.PatientCount));
        Assert.Equal(["hospitalInformation1.json"], result.Parts[2].Files);
    }

    [Fact]
    public void Refuses_a_part_folder_with_files_from_elsewhere_and_writes_nothing()
    {
        Population();
        var stray = Path.Combine(_dir, "out", "part-2", "other-patient.json");
        Directory.CreateDirectory(Path.GetDirectoryName(stray)!);
        File.WriteAllText(stray, "{}");

        var error = Assert.Throws<InvalidOperationException>(() => CitySplit.Split(Input, Path.Combine(_dir, "out"), 2));

        Assert.Contains("other-patient.json", error.Message);
        Assert.False(Directory.Exists(Path.Combine(_dir, "out", "part-1")));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(stray)!));
    }

    [Fact]
    public void FindCity_reads_the_first_address_of_the_patient()
    {
        Assert.Equal("Aville", CitySplit.FindCity(Patient("a", "Aville")));
        Assert.Equal("Bétancourt", CitySplit.FindCity(Patient("b", " Bétancourt ")));
        // The first address has no city: the second address's city does not count.
        Assert.Equal(CitySplit.UnknownCity, CitySplit.FindCity(Patient("c", city: null)));
        Assert.Equal(CitySplit.UnknownCity, CitySplit.FindCity(Patient("d", city: null, withAddress: false)));
        Assert.Equal(CitySplit.UnknownCity, CitySplit.FindCity(Patient("e", city: "")));
    }

    [Fact]
    public void FindCity_is_null_without_a_patient_and_ignores_cities_of_other_resources()
    {
        Organizations();
        Assert.Null(CitySplit.FindCity(Path.Combine(Input, "hospitalInformation1.json")));

        var path = Path.Combine(Input, "other.json");
        File.WriteAllText(path, """{"resourceType":"Location","id":"l","address":{"city":"Nope"}}""");
        Assert.Null(CitySplit.FindCity(path));
    }

    [Fact]
    public void FindCity_handles_property_order_single_resources_and_large_resources_before_the_patient()
    {
        var path = Path.Combine(Input, "single.json");
        File.WriteAllText(path, """{"address":[{"city":"Late"}],"id":"x","resourceType":"Patient"}""");
        Assert.Equal("Late", CitySplit.FindCity(path));

        // A 300 KB string ahead of the patient crosses the reader's 64 KB buffer several times.
        var binary = new JsonObject { ["resourceType"] = "Binary", ["id"] = "blob", ["data"] = new string('A', 300_000), ["address"] = new JsonArray(new JsonObject { ["city"] = "Wrong" }) };
        Assert.Equal("Fartown", CitySplit.FindCity(Patient("far", "Fartown", before: binary)));
    }

    [Fact]
    public void FindCity_of_a_file_broken_before_its_patient_names_the_file()
    {
        var path = Path.Combine(Input, "broken.json");
        File.WriteAllText(path, """{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Pati""");

        var error = Assert.Throws<InvalidDataException>(() => CitySplit.FindCity(path));

        Assert.StartsWith("broken.json: not valid JSON", error.Message);
    }

    [Fact]
    public void Splits_a_real_synthea_export()
    {
        var archive = Path.Combine(RepoRoot(), "..", "shared", "data", "synthea-csv-fhir-ma-11", "synthea-csv-fhir-ma-11.tar.gz");
        using (var gzip = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress))
        {
            TarFile.ExtractToDirectory(gzip, _dir, overwriteFiles: true);
        }

        var fhir = Path.Combine(_dir, "synthea-csv-fhir-ma-11", "fhir");
        var result = CitySplit.Split(fhir, Path.Combine(_dir, "out"), 3);

        Assert.Equal(10, result.Parts.Sum(p => p.PatientCount));
        Assert.Equal(2, result.SharedFiles.Count);
        Assert.All(result.SharedFiles, f => Assert.True(f.StartsWith("hospitalInformation", StringComparison.Ordinal) || f.StartsWith("practitionerInformation", StringComparison.Ordinal)));
        Assert.Equal(result.Parts.SelectMany(p => p.Cities).Count(), result.Parts.SelectMany(p => p.Cities).Distinct().Count());
        Assert.All(result.Parts, p => Assert.True(p.PatientCount > 0));
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
