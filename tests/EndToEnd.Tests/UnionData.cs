using System.Text.Json;
using HealthTrain.Cli.Demo;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>Every resource of the given types across all slices of a split — what a single pooled data set would hold.</summary>
public static class UnionData
{
    public static Dictionary<string, List<JsonElement>> Load(CitySplitResult split, params string[] types)
    {
        var byType = types.ToDictionary(t => t, _ => new List<JsonElement>());
        var files = split.Parts.SelectMany(p => p.Sources).Distinct(StringComparer.Ordinal);
        foreach (var file in files)
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(file));
            var root = document.RootElement;
            var resources = root.GetProperty("resourceType").GetString() == "Bundle"
                ? root.GetProperty("entry").EnumerateArray().Select(e => e.GetProperty("resource"))
                : [root];
            foreach (var resource in resources)
                if (byType.TryGetValue(resource.GetProperty("resourceType").GetString()!, out var list))
                    list.Add(resource.Clone());
        }
        return byType;
    }
}
