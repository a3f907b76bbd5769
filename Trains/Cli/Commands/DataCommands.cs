using System.Globalization;
using HealthTrain.Cli.Demo;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain data split</c>: make per-station slices of a Synthea population.</summary>
public static class DataCommands
{
    public static int Run(CliArgs args, TextWriter output)
    {
        var verb = args.Required(0, "a data command: split");
        if (verb != "split") throw new UsageException($"unknown command 'data {verb}'; try: data split");
        var source = args.Required(1, "the folder of Synthea bundles");
        var parts = int.Parse(args.Option("parts") ?? "3", CultureInfo.InvariantCulture);
        var outDir = args.Option("out") ?? throw new UsageException("--out DIR is required");
        args.RejectUnknown();
        if (parts < 1) throw new UsageException("--parts must be at least 1");
        var split = CitySplit.Split(source, outDir, parts);
        foreach (var part in split.Parts)
            output.WriteLine($"{part.Folder}: {part.PatientCount} patients from {part.Cities.Count} cities ({string.Join(", ", part.Cities.Take(4))}{(part.Cities.Count > 4 ? ", …" : "")})");
        output.WriteLine($"{split.SharedFiles.Count} shared files (organizations, practitioners) in every part");
        return 0;
    }
}
