using HealthTrain.Cli;
using HealthTrain.Cli.Images;
using HealthTrain.Cli.Templates;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests.Templates;

public sealed class TrainTemplatesTests : IDisposable
{
    // Stands in for the checkout: the scaffold only needs a root to place the folder in and point the torch SDK reference at.
    private readonly string root = Directory.CreateTempSubdirectory("healthtrain-template-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    [Fact]
    public void The_torch_classifier_template_scaffolds_a_valid_training_train()
    {
        var dir = Path.Combine(root, "Trains", "readmission-risk");
        var files = TrainTemplates.Scaffold("readmission-risk", TrainTemplates.TorchClassifier, dir, root);
        Assert.Equal(["Program.cs", "ReadmissionRisk.csproj", "train.json"], files.Select(Path.GetFileName).Order(StringComparer.Ordinal));

        var (manifest, json) = TrainImageBuilder.ReadManifest(dir);
        Assert.Equal("readmission-risk", manifest.Name);
        Assert.Equal(TrainKinds.Training, manifest.Kind);
        Assert.Equal(["linear_weight", "linear_bias"], manifest.Outputs.Tensors.Select(t => t.Name));
        Assert.Empty(ManifestValidator.Parse(json).Errors);

        var csproj = File.ReadAllText(Path.Combine(dir, "ReadmissionRisk.csproj"));
        Assert.Contains("""<ProjectReference Include="../TorchSdk/HealthTrain.Trains.Torch.csproj" />""", csproj);
        Assert.Contains("<AssemblyName>readmission-risk</AssemblyName>", csproj);
        Assert.Contains("libtorch-cpu-linux-x64", csproj);
        Assert.Contains("readmission-risk: round", File.ReadAllText(Path.Combine(dir, "Program.cs")));
    }

    [Fact]
    public void Bad_names_templates_and_places_are_refused()
    {
        Assert.Contains("not a train name", Assert.Throws<UsageException>(() => TrainTemplates.Scaffold("Bad_Name", TrainTemplates.TorchClassifier, Path.Combine(root, "x"), root)).Message);
        Assert.Contains("no template", Assert.Throws<UsageException>(() => TrainTemplates.Scaffold("ok", "keras", Path.Combine(root, "x"), root)).Message);
        Assert.Contains("outside the checkout", Assert.Throws<UsageException>(() => TrainTemplates.Scaffold("ok", TrainTemplates.TorchClassifier, Path.Combine(Path.GetTempPath(), "elsewhere-" + Guid.NewGuid()), root)).Message);
        var taken = Path.Combine(root, "taken");
        Directory.CreateDirectory(taken);
        File.WriteAllText(Path.Combine(taken, "x"), "");
        Assert.Contains("not empty", Assert.Throws<UsageException>(() => TrainTemplates.Scaffold("ok", TrainTemplates.TorchClassifier, taken, root)).Message);
    }
}
