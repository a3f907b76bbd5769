using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Fixtures.MisbehavingTrain;

// Test fixture: a statistics train whose misbehaviour is chosen by the "behaviour" parameter in
// /input/parameters.json, or by a "--behaviour=NAME" argument baked into a test image's ENTRYPOINT
// (which wins, so a test can force a behaviour whatever parameters the station passes).
const string Input = "/input";
const string Output = "/output";

var behaviour = args.Select(a => a.StartsWith("--behaviour=", StringComparison.Ordinal) ? a["--behaviour=".Length..] : null)
                    .LastOrDefault(a => a is not null)
                ?? ReadBehaviourParameter();
// Misbehave only at stations holding at most this many patients, so one run can fail at one station and succeed at others.
if (CountPatients() > ReadMisbehaveUpTo()) behaviour = "ok";

switch (behaviour)
{
    case "ok":
        WriteStatistics(new JsonObject { ["patients"] = Count(CountPatients()) });
        return 0;
    case "crash":
        Console.Error.WriteLine("misbehaving-train: behaviour 'crash' requested");
        Console.Error.WriteLine("misbehaving-train: pretending the input is corrupt");
        Console.Error.WriteLine("misbehaving-train: exiting with code 3");
        return 3;
    case "sleep":
        Console.WriteLine("misbehaving-train: sleeping forever");
        Thread.Sleep(Timeout.Infinite);
        return 0;
    case "undeclared":
        WriteStatistics(new JsonObject { ["patients"] = Count(CountPatients()) });
        // Row-level data is exactly what a station must refuse to release.
        File.WriteAllText(Path.Combine(Output, "patients.csv"), "id\n" + string.Join("\n", ReadPatientIds()) + "\n");
        return 0;
    case "bad-statistics":
        WriteStatistics(new JsonObject
        {
            ["patients"] = Count(CountPatients()),
            ["secret_ages"] = Count(42),
        });
        return 0;
    case "network":
        return Attacks.Network(ReadLongParameter("hub_port", 0));
    case "write-outside":
        return Attacks.WriteOutside();
    case "write-past-cap":
        return Attacks.WritePastCap(ReadLongParameter("megabytes", 1024));
    case "many-files":
        return Attacks.ManyFiles(ReadLongParameter("files", 100_000));
    case "fork-bomb":
        return Attacks.ForkBomb();
    case "secrets":
        return Attacks.Secrets();
    case "special-output":
        return Attacks.SpecialOutput();
    default:
        Console.Error.WriteLine($"misbehaving-train: unknown behaviour '{behaviour}'");
        return 2;
}

static string ReadBehaviourParameter()
{
    var path = Path.Combine(Input, "parameters.json");
    if (!File.Exists(path)) return "ok";
    var parameters = JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
    return parameters?["behaviour"]?.GetValue<string>() ?? "ok";
}

static long ReadMisbehaveUpTo() => ReadLongParameter("misbehave_up_to_patients", long.MaxValue);

static long ReadLongParameter(string name, long fallback)
{
    var path = Path.Combine(Input, "parameters.json");
    if (!File.Exists(path)) return fallback;
    var parameters = JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
    return parameters?[name]?.GetValue<long>() ?? fallback;
}

static string PatientFile() => Path.Combine(Input, "fhir", "Patient.ndjson");

static long CountPatients() =>
    File.Exists(PatientFile()) ? File.ReadLines(PatientFile()).LongCount(line => !string.IsNullOrWhiteSpace(line)) : 0;

static IEnumerable<string> ReadPatientIds() =>
    File.Exists(PatientFile())
        ? File.ReadLines(PatientFile()).Where(l => !string.IsNullOrWhiteSpace(l))
              .Select(l => JsonNode.Parse(l)?["id"]?.GetValue<string>() ?? "")
        : [];

static JsonObject Count(long value) => new() { ["kind"] = "count", ["value"] = value };

static void WriteStatistics(JsonObject statistics)
{
    Directory.CreateDirectory(Output);
    var document = new JsonObject { ["statistics"] = statistics };
    File.WriteAllText(Path.Combine(Output, "statistics.json"), document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
}
