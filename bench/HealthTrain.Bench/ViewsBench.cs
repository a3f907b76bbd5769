using System.Diagnostics;
using System.Globalization;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using HealthTrain.Station.Views;

namespace HealthTrain.Bench;

/// <summary>
/// SQL-on-FHIR view evaluation over the station store's Observations (the Synthea set at 1×, 2×, 4×, the stores the ingest
/// benchmark leaves behind, or freshly ingested ones): rows per second and resources per second, streaming from SQLite
/// through <see cref="FhirStoreResources"/> into <see cref="CompiledView"/>.
/// </summary>
public static class ViewsBench
{
    /// <summary>One row per Observation: key, patient key, first code, quantity value and unit, effective time.</summary>
    public const string ObservationValues = """
        {"resourceType":"ViewDefinition","resource":"Observation","name":"observation_values","status":"active",
         "select":[{"column":[
           {"name":"id","path":"getResourceKey()"},
           {"name":"patient","path":"subject.getReferenceKey(Patient)"},
           {"name":"code","path":"code.coding.first().code"},
           {"name":"value","path":"value.ofType(Quantity).value"},
           {"name":"unit","path":"value.ofType(Quantity).unit"},
           {"name":"effective","path":"effective.ofType(dateTime)"}]}]}
        """;

    /// <summary>One row per component of each Observation (blood-pressure panels), with a filter: forEach and where.</summary>
    public const string BloodPressureComponents = """
        {"resourceType":"ViewDefinition","resource":"Observation","name":"bp_components","status":"active",
         "where":[{"path":"code.coding.where(system = 'http://loinc.org' and (code = '55284-4' or code = '85354-9')).exists()"}],
         "select":[{"column":[{"name":"id","path":"getResourceKey()"},{"name":"patient","path":"subject.getReferenceKey(Patient)"}]},
                   {"forEach":"component","column":[
                     {"name":"code","path":"code.coding.first().code"},
                     {"name":"value","path":"value.ofType(Quantity).value"}]}]}
        """;

    public static void Run(TextWriter output)
    {
        output.WriteLine($"view evaluation over Observations, Synthea R4 2019 at {string.Join("×, ", ScaledSynthea.Scales)}× ({Environment.ProcessorCount} cores)");
        var views = new (string Name, CompiledView View)[]
        {
            ("observation_values", CompiledView.Parse(ObservationValues)),
            ("bp_components (where + forEach)", CompiledView.Parse(BloodPressureComponents)),
        };
        // Warm-up (JIT, FHIRPath compilation caches) on the 1× store, not timed.
        var warmup = Store(ScaledSynthea.Scales[0], output);
        foreach (var (_, view) in views)
        {
            foreach (var _ in view.Evaluate(FhirStoreResources.ReadJson(warmup, view.ResourceType).Take(5_000)))
            {
            }
        }

        output.WriteLine("| scale | Observations | view | rows | seconds | rows/s | Observations/s | read only (no view) |");
        output.WriteLine("|---|---|---|---|---|---|---|---|");
        foreach (var scale in ScaledSynthea.Scales)
        {
            var store = Store(scale, output);
            var observations = store.Count("Observation");

            // What streaming the JSON out of SQLite alone costs.
            var watch = Stopwatch.StartNew();
            long read = 0;
            foreach (var json in FhirStoreResources.ReadJson(store, "Observation")) read += json.Length;
            var readSeconds = watch.Elapsed.TotalSeconds;

            foreach (var (name, view) in views)
            {
                watch.Restart();
                long rows = 0;
                foreach (var row in view.Evaluate(FhirStoreResources.ReadJson(store, view.ResourceType))) rows++;
                var seconds = watch.Elapsed.TotalSeconds;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {scale}× | {observations:N0} | {name} | {rows:N0} | {seconds:F1} | {rows / seconds:N0} | {observations / seconds:N0} | {readSeconds:F1} s |"));
            }
        }
    }

    private static FhirStore Store(int scale, TextWriter output)
    {
        var path = IngestBench.StorePath(scale);
        if (File.Exists(path))
        {
            var existing = new FhirStore(path);
            if (IngestionLog.LatestRun(existing) is { } run && IngestionLog.Status(existing, run) == "completed") return existing;
        }

        output.WriteLine($"  ingesting the {scale}× store first ...");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        IngestBench.IngestFresh(ScaledSynthea.Folder(scale, output), path);
        return new FhirStore(path);
    }
}
