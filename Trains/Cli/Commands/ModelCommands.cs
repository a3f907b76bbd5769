using System.Globalization;
using System.Security.Cryptography;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain model list [--run RUN] | show REF | pull REF --out FILE | prov REF</c>: the versioned models a run produced (REF: a digest or RUN/ROUND).</summary>
public static class ModelCommands
{
    public static async Task<int> RunAsync(CliArgs args, TextWriter output)
    {
        var verb = args.Required(0, "a model command: list|show|pull|prov");
        var reference = verb is "show" or "pull" or "prov" ? args.Required(1, "the model: sha256:… or RUN/ROUND") : null;
        var run = args.Option("run") is { } r ? long.Parse(r, CultureInfo.InvariantCulture) : (long?)null;
        var outPath = verb == "pull" ? args.Option("out") ?? throw new UsageException("--out FILE is required: where to write the model (safetensors)") : null;
        var json = args.Flag("json");
        using var hub = new HubApiClient(HubProfile.Resolve(args));
        args.RejectUnknown();
        switch (verb)
        {
            case "list":
            {
                var versions = await hub.ListModelsAsync(run);
                if (json) { output.WriteLine(System.Text.Json.JsonSerializer.Serialize(versions, ProtocolJson.Api)); return 0; }
                if (versions.Count == 0) output.WriteLine("no model versions yet");
                foreach (var v in versions)
                    output.WriteLine($"run {v.RunId,-4} round {v.Round,-3} {v.Digest}  {v.Strategy,-12} {v.Contributors.Count} station(s), {v.Samples} samples{Metrics(v.Metrics, 3)}");
                return 0;
            }
            case "prov":
                output.WriteLine((await hub.GetModelProvenanceAsync(reference!)).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                return 0;
            case "show":
            {
                var v = await hub.GetModelAsync(reference!);
                if (json) { output.WriteLine(System.Text.Json.JsonSerializer.Serialize(v, ProtocolJson.Api)); return 0; }
                output.WriteLine($"model {v.Digest}");
                output.WriteLine($"  train:    {v.Train}, run {v.RunId}, round {v.Round}, merged {v.CreatedAt:yyyy-MM-dd HH:mm:ss} with {v.Strategy}");
                output.WriteLine($"  parent:   {v.ParentDigest ?? "none (the seeded start)"}");
                output.WriteLine($"  samples:  {v.Samples}");
                foreach (var (name, value) in v.Metrics) output.WriteLine($"  {name,-24} {value.ToString("G6", CultureInfo.InvariantCulture)}");
                output.WriteLine("  contributors:");
                foreach (var c in v.Contributors)
                    output.WriteLine($"    {c.Station,-20} job {c.JobId,-6} update {c.UpdateDigest}  {c.Samples} samples{Metrics(c.Metrics, 2)}");
                return 0;
            }
            default:
            {
                var v = await hub.GetModelAsync(reference!);
                await hub.DownloadModelAsync(reference!, outPath!);
                string digest;
                await using (var file = File.OpenRead(outPath!))
                    digest = "sha256:" + Convert.ToHexStringLower(await SHA256.HashDataAsync(file));
                if (digest != v.Digest)
                {
                    File.Delete(outPath!);
                    throw new InvalidOperationException($"the hub sent content whose digest is {digest}, not the model's {v.Digest}; nothing was kept");
                }
                output.WriteLine($"wrote {outPath} ({new FileInfo(outPath!).Length} bytes, {digest}, verified)");
                return 0;
            }
        }
    }

    private static string Metrics(IReadOnlyDictionary<string, double> metrics, int most) =>
        metrics.Count == 0 ? "" : ", " + string.Join(", ", metrics.Take(most).Select(m => $"{m.Key} {m.Value.ToString("G4", CultureInfo.InvariantCulture)}"));
}
