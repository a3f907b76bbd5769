namespace HealthTrain.Cli;

/// <summary>Finds the checkout the CLI runs from, and the built hub and station next to it.</summary>
public static class RepoPaths
{
    /// <summary>The folder holding HealthTrain.sln, found by walking up from the running assembly.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The project's working folder for caches and demo state (git-ignored).</summary>
    public static string WorkDir => Path.Combine(Root, ".healthtrain");

    /// <summary>The shared data folder beside the project root.</summary>
    public static string SharedData => Path.GetFullPath(Path.Combine(Root, "..", "shared", "data"));

    /// <summary>Debug or Release: the same configuration as the running assembly, so one build serves all.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string HubAssembly => Built("Hub", "HealthTrain.Hub.dll");
    public static string StationAssembly => Built("Station", "HealthTrain.Station.dll");

    private static string Built(string project, string assembly)
    {
        var path = Path.Combine(Root, project, "bin", Configuration, "net10.0", assembly);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{assembly} is not built: run 'dotnet build {Path.Combine(Root, "HealthTrain.sln")}' first", path);
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "HealthTrain.sln"))) return dir.FullName;
        var cwd = Directory.GetCurrentDirectory();
        for (var dir = new DirectoryInfo(cwd); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "HealthTrain.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("cannot find the HealthTrain checkout (HealthTrain.sln) above " + AppContext.BaseDirectory);
    }
}
