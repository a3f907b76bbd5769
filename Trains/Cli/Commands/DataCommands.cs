using System.Globalization;
using HealthTrain.Cli.Demo;

namespace HealthTrain.Cli.Commands;

/// <summary>
/// <c>healthtrain data split</c>: make per-station slices of a Synthea population; <c>healthtrain data images</c>: turn a
/// MedMNIST .npz split into the image-collection file a training train reads.
/// </summary>
public static class DataCommands
{
    public static int Run(CliArgs args, TextWriter output)
    {
        var verb = args.Required(0, "a data command: split|images");
        if (verb == "images") return Images(args, output);
        if (verb != "split") throw new UsageException($"unknown command 'data {verb}'; try: data split|images");
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

    /// <summary><c>data images NPZ --split train|val [--limit N] --out FILE.safetensors</c>.</summary>
    private static int Images(CliArgs args, TextWriter output)
    {
        var npz = args.Required(1, "the .npz file (e.g. ../shared/data/pneumoniamnist/pneumoniamnist_trainval.npz)");
        var split = args.Option("split") ?? "train";
        var limit = args.Option("limit") is { } l ? int.Parse(l, CultureInfo.InvariantCulture) : (int?)null;
        var outPath = args.Option("out") ?? throw new UsageException("--out FILE.safetensors is required");
        args.RejectUnknown();
        if (!File.Exists(npz)) throw new FileNotFoundException($"no such file: {npz}", npz);
        var collection = HealthTrain.Cli.Data.NpzImages.Read(npz, split, limit);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
        using (var file = File.Create(outPath)) collection.Write(file);
        var positives = collection.Labels.Count(x => x == 1);
        output.WriteLine($"{outPath}: {collection.Count} images of {collection.Height}×{collection.Width} ({positives} labelled 1, {collection.Count - positives} labelled otherwise) from {split}");
        return 0;
    }
}
