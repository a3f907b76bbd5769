using System.Text.RegularExpressions;

namespace HealthTrain.Cli.Templates;

/// <summary>
/// <c>healthtrain train new NAME --template torch-classifier</c>: scaffolds a training train folder (train.json,
/// csproj, Program.cs) that builds with <c>healthtrain train build</c> as it is. The folder must lie inside the
/// checkout, where Directory.Packages.props versions its packages and the torch SDK is.
/// </summary>
public static partial class TrainTemplates
{
    public const string TorchClassifier = "torch-classifier";

    public static readonly IReadOnlyList<string> Names = [TorchClassifier];

    /// <summary>Writes the template's files into <paramref name="directory"/> (created; must not exist or be empty) and returns their paths.</summary>
    /// <param name="name">The train's name: lower-case letters and digits with single '-' between, as the manifest wants.</param>
    /// <param name="template">One of <see cref="Names"/>.</param>
    /// <param name="directory">The new train folder.</param>
    /// <param name="repositoryRoot">The checkout holding Trains/TorchSdk.</param>
    public static IReadOnlyList<string> Scaffold(string name, string template, string directory, string repositoryRoot)
    {
        if (!NamePattern().IsMatch(name))
            throw new UsageException($"'{name}' is not a train name: lower-case letters and digits, with single '-' between (e.g. readmission-risk)");
        if (!Names.Contains(template))
            throw new UsageException($"no template '{template}'; templates: {string.Join(", ", Names)}");
        directory = Path.GetFullPath(directory);
        repositoryRoot = Path.GetFullPath(repositoryRoot);
        var relativeToRoot = Path.GetRelativePath(repositoryRoot, directory);
        if (relativeToRoot.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relativeToRoot))
            throw new UsageException($"{directory} is outside the checkout {repositoryRoot}: a train folder needs its Directory.Packages.props and Trains/TorchSdk");
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
            throw new UsageException($"{directory} exists and is not empty");
        var torchSdk = Path.GetRelativePath(directory, Path.Combine(repositoryRoot, "Trains", "TorchSdk", "HealthTrain.Trains.Torch.csproj")).Replace('\\', '/');
        var assembly = name;
        var ns = "HealthTrain.Trains." + string.Concat(name.Split('-').Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
        var project = string.Concat(name.Split('-').Select(p => char.ToUpperInvariant(p[0]) + p[1..]));

        Directory.CreateDirectory(directory);
        var files = new Dictionary<string, string>
        {
            ["train.json"] = TorchClassifierFiles.TrainJson.Replace("__NAME__", name),
            [project + ".csproj"] = TorchClassifierFiles.Csproj.Replace("__ASSEMBLY__", assembly).Replace("__NAMESPACE__", ns).Replace("__TORCHSDK__", torchSdk),
            ["Program.cs"] = TorchClassifierFiles.Program.Replace("__NAME__", name),
        };
        var written = new List<string>();
        foreach (var (file, text) in files)
        {
            var path = Path.Combine(directory, file);
            File.WriteAllText(path, text);
            written.Add(path);
        }
        return written;
    }

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex NamePattern();
}
