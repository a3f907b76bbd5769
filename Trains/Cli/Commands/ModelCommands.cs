using System.Globalization;
using System.Security.Cryptography;
using HealthTrain.Cli.Hub;
using HealthTrain.Cli.Output;
using HealthTrain.Trains.Protocol;
using Spectre.Console;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain model list [--run RUN] | show REF | pull REF --out FILE | prov REF</c>: the versioned models a run produced (REF: a digest or RUN/ROUND).</summary>
public static class ModelCommands
{
    public static async Task<int> RunAsync(CliArgs args, TextWriter output, IAnsiConsole? terminal = null)
    {
        var verb = args.Required(0, "a model command: list|show|pull|prov");
        if (verb is not ("list" or "show" or "pull" or "prov"))
            throw new UsageException($"unknown command 'model {verb}'; try: model list|show|pull|prov");
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
                ModelList(versions).Write(output, terminal);
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
                var metrics = new TextTable([new TextColumn("metric") { Before = "  ", Align = -24 }, new TextColumn("value") { Before = " " }]);
                foreach (var (name, value) in v.Metrics) metrics.Add(name, value.ToString("G6", CultureInfo.InvariantCulture));
                metrics.Write(output, terminal);
                output.WriteLine("  contributors:");
                Contributors(v.Contributors).Write(output, terminal);
                return 0;
            }
            default: // pull
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

    /// <summary>The model versions as <c>model list</c> shows them.</summary>
    public static TextTable ModelList(IEnumerable<ModelVersionInfo> versions)
    {
        var table = new TextTable(
        [
            new TextColumn("run") { Before = "run ", Align = -4 },
            new TextColumn("round") { Before = " round ", Align = -3 },
            new TextColumn("digest") { Before = " " },
            new TextColumn("strategy") { Before = "  ", Align = -12 },
            new TextColumn("stations") { Before = " ", After = " station(s)" },
            new TextColumn("samples") { Before = ", ", After = " samples" },
            new TextColumn("metrics") { Before = ", ", OmitEmpty = true },
        ], emptyText: "no model versions yet");
        foreach (var v in versions)
            table.Add(Cell(v.RunId), Cell(v.Round), v.Digest, v.Strategy, Cell(v.Contributors.Count), Cell(v.Samples), Metrics(v.Metrics, 3));
        return table;
    }

    /// <summary>The stations whose updates a model merged, as <c>model show</c> lists them.</summary>
    private static TextTable Contributors(IEnumerable<ModelContribution> contributors)
    {
        var table = new TextTable(
        [
            new TextColumn("station") { Before = "    ", Align = -20 },
            new TextColumn("job") { Before = " job ", Align = -6 },
            new TextColumn("update") { Before = " update " },
            new TextColumn("samples") { Before = "  ", After = " samples" },
            new TextColumn("metrics") { Before = ", ", OmitEmpty = true },
        ]);
        foreach (var c in contributors) table.Add(c.Station, Cell(c.JobId), c.UpdateDigest, Cell(c.Samples), Metrics(c.Metrics, 2));
        return table;
    }

    private static string Cell(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Metrics(IReadOnlyDictionary<string, double> metrics, int most) =>
        string.Join(", ", metrics.Take(most).Select(m => $"{m.Key} {m.Value.ToString("G4", CultureInfo.InvariantCulture)}"));
}
