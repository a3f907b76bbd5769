namespace HealthTrain.Station.Mapping;

/// <summary>
/// Finds the mapping set of a format: <c>$HEALTHTRAIN_FHIR_MAPPINGS/&lt;format&gt;</c>, else
/// <c>fhir-mappings/&lt;format&gt;</c> next to the application, else in the nearest parent folder that has one
/// (the repository's <c>fhir-mappings/</c> when run from a build folder).
/// </summary>
public static class MappingSetLocator
{
    /// <summary>The environment variable naming the folder that holds one sub-folder per format.</summary>
    public const string EnvironmentVariable = "HEALTHTRAIN_FHIR_MAPPINGS";

    /// <summary>The mapping set folder of <paramref name="format"/>; throws <see cref="DirectoryNotFoundException"/> naming the places searched.</summary>
    public static string Find(string format)
    {
        var searched = new List<string>();
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } root)
        {
            var candidate = Path.Combine(root, format);
            if (File.Exists(Path.Combine(candidate, MappingSet.SetFileName)))
            {
                return candidate;
            }

            searched.Add(candidate);
        }

        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            var candidate = Path.Combine(directory.FullName, "fhir-mappings", format);
            if (File.Exists(Path.Combine(candidate, MappingSet.SetFileName)))
            {
                return candidate;
            }
        }

        searched.Add($"fhir-mappings/{format} in {AppContext.BaseDirectory} and its parents");
        throw new DirectoryNotFoundException($"no {MappingSet.SetFileName} for format '{format}'; searched {string.Join("; ", searched)} (set {EnvironmentVariable})");
    }
}
