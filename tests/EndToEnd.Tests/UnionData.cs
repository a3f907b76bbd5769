using System.Text.Json;
using HealthTrain.Cli.Demo;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Views;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>What a single pooled data set would hold: every slice of a split loaded into one store.</summary>
public static class UnionData
{
    /// <summary>Loads all slices into one station store and evaluates the manifest's view inputs over it, as the rows a train reads.</summary>
    public static Dictionary<string, List<JsonElement>> EvaluateViews(CitySplitResult split, TrainManifest manifest, string workDir) =>
        EvaluateViews(split.Parts.Select(p => p.Folder), manifest, workDir);

    /// <summary>The manifest's view inputs over the FHIR folders loaded into one store: one folder is what that station's train reads.</summary>
    public static Dictionary<string, List<JsonElement>> EvaluateViews(IEnumerable<string> folders, TrainManifest manifest, string workDir)
    {
        Directory.CreateDirectory(workDir);
        var store = new FhirStore(Path.Combine(workDir, "union.db"));
        // Shared files (organizations, practitioners) sit in every slice; upserts by id keep one copy of each.
        foreach (var folder in folders)
            Assert.Empty(new FhirFolderLoader(store).Load(folder).RejectedFiles);

        var rows = new Dictionary<string, List<JsonElement>>();
        foreach (var input in manifest.Inputs.Where(i => i.Kind == InputKinds.View))
        {
            var view = CompiledView.Compile(input.View!.Value);
            using var buffer = new MemoryStream();
            NdjsonViewWriter.Write(view.Columns, view.Evaluate(FhirStoreResources.ReadJson(store, view.ResourceType)), buffer);
            rows[input.Name!] = [.. System.Text.Encoding.UTF8.GetString(buffer.ToArray())
                .Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => JsonDocument.Parse(line).RootElement.Clone())];
        }
        return rows;
    }
}
