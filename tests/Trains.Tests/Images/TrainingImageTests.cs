using System.Text.Json;
using Docker.DotNet;
using Docker.DotNet.Models;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Trains.Tests.Images;

/// <summary>
/// Training trains against the real daemon: the torch runtime image runs libtorch, the example trains build on it
/// with small layers, and one round of each in a locked-down container over a prepared /input passes the contract.
/// </summary>
[Collection(DockerImagesCollection.Name)]
public sealed class TrainingImageTests(DockerImagesFixture fixture)
{
    private static string Example(string name) => Path.Combine(ImageTestEnvironment.RepositoryRoot, "Trains", "Examples", name);

    [Fact]
    public async Task The_torch_runtime_sits_on_the_dotnet_runtime_and_runs_libtorch()
    {
        var torch = await fixture.BaseBuilder.BuildTorchAsync(fixture.FirstBaseBuild);
        Assert.Contains("libtorch_cpu.so", torch.TorchFiles.Files.Keys);
        Assert.Contains("TorchSharp.dll", torch.TorchFiles.Files.Keys);
        Assert.DoesNotContain("libcoreclr.so", torch.TorchFiles.Files.Keys); // in the .NET runtime layer already
        Assert.Contains("libcoreclr.so", torch.AllFiles.Files.Keys);

        var runtime = await fixture.Docker.Images.InspectImageAsync(fixture.FirstBaseBuild.RuntimeReference);
        var image = await fixture.Docker.Images.InspectImageAsync(torch.Reference);
        Assert.Equal(runtime.RootFS.Layers, image.RootFS.Layers.Take(runtime.RootFS.Layers.Count));
        Assert.Equal(runtime.RootFS.Layers.Count + 1, image.RootFS.Layers.Count);

        var (exit, stdout, stderr) = await RunAsync(fixture.Docker, torch.Reference, null, null, ["/app/" + BaseImageBuilder.TorchSeedAssemblyName]);
        Assert.True(exit == 0, stderr);
        Assert.Contains("ones(2,2).sum() = 4", stdout);
    }

    [Fact]
    public async Task Diabetes_risk_runs_two_rounds_and_each_output_passes_the_contract()
    {
        using var publish = await fixture.TrainBuilder.PublishAsync(Example("diabetes-risk"));
        Assert.StartsWith(BaseImageBuilder.TorchRepository + ":", publish.BaseReference);
        Assert.DoesNotContain("libtorch_cpu.so", publish.DeltaFiles);
        Assert.DoesNotContain("TorchSharp.dll", publish.DeltaFiles);
        Assert.True(publish.DeltaBytes < 2 * 1024 * 1024, $"train layer {publish.DeltaBytes} B");
        var image = await fixture.TrainBuilder.BuildImageAsync(publish, new TrainImageOptions { Reference = $"healthtrain-test/diabetes-risk:{Guid.NewGuid():N}"[..48] });
        try
        {
            using var run = new TrainingRunFolder();
            SyntheticDiabetesViews.Write(run.Input, patients: 240);
            run.WriteParameters(publish.Manifest, new() { ["epochs"] = 5 });
            run.WriteRound(round: 1, strategy: "fedavg", mu: null);
            run.MakeReadable();
            var (exit, stdout, stderr) = await RunAsync(fixture.Docker, image.Reference, run.Input, run.Output);
            Assert.True(exit == 0, $"exit {exit}: {stdout} {stderr}");
            var first = AssertContract(publish.Manifest, run.Output);

            // Round 2: the update comes back as the global model, under FedProx and with the MLP.
            run.NextRound(round: 2, strategy: "fedprox", mu: 0.1);
            run.WriteParameters(publish.Manifest, new() { ["epochs"] = 3, ["model"] = "mlp" });
            run.MakeReadable();
            (exit, stdout, stderr) = await RunAsync(fixture.Docker, image.Reference, run.Input, run.Output);
            Assert.True(exit == 0, $"exit {exit}: {stdout} {stderr}");
            var second = AssertContract(publish.Manifest, run.Output);
            // The global model it evaluated is round 1's update: its held-out loss is round 1's local loss.
            Assert.Equal(first.Metrics["local_loss"], second.Metrics["global_loss"], 4);
        }
        finally
        {
            await fixture.Docker.Images.DeleteImageAsync(image.Reference, new ImageDeleteParameters { Force = true });
        }
    }

    [Fact]
    public async Task Pneumonia_cnn_runs_a_round_over_an_image_collection_and_passes_the_contract()
    {
        using var publish = await fixture.TrainBuilder.PublishAsync(Example("pneumonia-cnn"));
        Assert.True(publish.DeltaBytes < 2 * 1024 * 1024, $"train layer {publish.DeltaBytes} B");
        var image = await fixture.TrainBuilder.BuildImageAsync(publish, new TrainImageOptions { Reference = $"healthtrain-test/pneumonia-cnn:{Guid.NewGuid():N}"[..48] });
        try
        {
            using var run = new TrainingRunFolder();
            // Bright discs are "pneumonia", noise alone "normal": learnable in one epoch.
            var random = new Random(3);
            const int count = 120;
            var pixels = new byte[count * 28 * 28];
            var labels = new long[count];
            for (var i = 0; i < count; i++)
            {
                labels[i] = i % 2;
                for (var y = 0; y < 28; y++)
                for (var x = 0; x < 28; x++)
                    pixels[i * 784 + y * 28 + x] = (byte)(random.Next(60) + (labels[i] == 1 && (x - 14) * (x - 14) + (y - 14) * (y - 14) < 49 ? 180 : 0));
            }
            Directory.CreateDirectory(Path.Combine(run.Input, "images"));
            using (var file = File.Create(Path.Combine(run.Input, "images", "xrays.safetensors")))
                new ImageCollection(count, 28, 28, pixels, labels).Write(file);
            run.WriteParameters(publish.Manifest, new() { ["epochs"] = 1, ["held_out_fraction"] = 0.3 });
            run.WriteRound(round: 1, strategy: "fedavg", mu: null);
            run.MakeReadable();
            var (exit, stdout, stderr) = await RunAsync(fixture.Docker, image.Reference, run.Input, run.Output);
            Assert.True(exit == 0, $"exit {exit}: {stdout} {stderr}");
            var metrics = AssertContract(publish.Manifest, run.Output);
            Assert.Contains("local_auroc", metrics.Metrics.Keys);
            Assert.Contains("local_accuracy", metrics.Metrics.Keys);
        }
        finally
        {
            await fixture.Docker.Images.DeleteImageAsync(image.Reference, new ImageDeleteParameters { Force = true });
        }
    }

    private sealed record RoundOutput(long Samples, Dictionary<string, double> Metrics);

    /// <summary>/output holds exactly update.safetensors (the declared tensors, float32, finite) and metrics.json (finite, with global_* and local_*).</summary>
    private static RoundOutput AssertContract(TrainManifest manifest, string output)
    {
        Assert.Equal(["metrics.json", "update.safetensors"], Directory.GetFileSystemEntries(output).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var bytes = File.ReadAllBytes(Path.Combine(output, "update.safetensors"));
        var header = SafeTensors.ReadHeader(bytes);
        Assert.Equal(manifest.Outputs.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal), header.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));
        foreach (var declared in manifest.Outputs.Tensors)
        {
            var t = header.Find(declared.Name)!;
            Assert.Equal(declared.Dtype, t.Dtype);
            Assert.Equal(declared.Shape, t.Shape);
            Assert.All(SafeTensors.ReadFloat32(bytes, header, t.Name), v => Assert.True(float.IsFinite(v)));
        }
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "metrics.json")));
        Assert.Equal(["metrics", "samples"], json.RootElement.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        var samples = json.RootElement.GetProperty("samples").GetInt64();
        Assert.True(samples > 0);
        var metrics = json.RootElement.GetProperty("metrics").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        Assert.All(metrics.Values, v => Assert.True(double.IsFinite(v)));
        foreach (var name in new[] { "global_loss", "global_accuracy", "global_eval_samples", "local_loss", "local_accuracy", "local_eval_samples" })
            Assert.Contains(name, metrics.Keys);
        return new RoundOutput(samples, metrics);
    }

    private static async Task<(long Exit, string Stdout, string Stderr)> RunAsync(IDockerClient docker, string image, string? input, string? output, IList<string>? entrypoint = null)
    {
        var container = await docker.Containers.CreateContainerAsync(new CreateContainerParameters
        {
            Image = image,
            Entrypoint = entrypoint,
            NetworkDisabled = true,
            HostConfig = new HostConfig
            {
                NetworkMode = "none",
                ReadonlyRootfs = true,
                Binds = input is null ? [] : [$"{input}:/input:ro", $"{output}:/output"],
            },
        });
        try
        {
            await docker.Containers.StartContainerAsync(container.ID, new ContainerStartParameters());
            var exit = (await docker.Containers.WaitContainerAsync(container.ID)).StatusCode;
            using var logs = await docker.Containers.GetContainerLogsAsync(container.ID, tty: false, new ContainerLogsParameters { ShowStdout = true, ShowStderr = true });
            var (stdout, stderr) = await logs.ReadOutputToEndAsync(CancellationToken.None);
            return (exit, stdout, stderr);
        }
        finally
        {
            await docker.Containers.RemoveContainerAsync(container.ID, new ContainerRemoveParameters { Force = true });
        }
    }
}

/// <summary>A station-like /input and /output for training rounds, readable and writable by the train user.</summary>
internal sealed class TrainingRunFolder : IDisposable
{
    private readonly string root = Directory.CreateTempSubdirectory("healthtrain-training-run-").FullName;

    public TrainingRunFolder()
    {
        Directory.CreateDirectory(Input);
        Directory.CreateDirectory(Output);
        File.SetUnixFileMode(root, (UnixFileMode)0b111_101_101);
        File.SetUnixFileMode(Output, (UnixFileMode)0b111_111_111);
    }

    public string Input => Path.Combine(root, "input");
    public string Output => Path.Combine(root, "output");

    /// <summary>The manifest's defaults with <paramref name="overrides"/>, as a station merges them.</summary>
    public void WriteParameters(TrainManifest manifest, Dictionary<string, object> overrides)
    {
        var values = manifest.Parameters.ToDictionary(p => p.Name, p => (object)p.Default!.Value);
        foreach (var (k, v) in overrides) values[k] = v;
        File.WriteAllText(Path.Combine(Input, "parameters.json"), JsonSerializer.Serialize(values));
    }

    public void WriteRound(int round, string strategy, double? mu) =>
        File.WriteAllText(Path.Combine(Input, "round.json"), JsonSerializer.Serialize(new { run = 1, round, rounds = 3, strategy, proximalMu = mu, seed = 42 }));

    /// <summary>Moves this round's update in as the next round's global model and empties /output.</summary>
    public void NextRound(int round, string strategy, double? mu)
    {
        Directory.CreateDirectory(Path.Combine(Input, "model"));
        File.Move(Path.Combine(Output, "update.safetensors"), Path.Combine(Input, "model", "global.safetensors"), overwrite: true);
        foreach (var file in Directory.GetFiles(Output)) File.Delete(file);
        WriteRound(round, strategy, mu);
        MakeReadable();
    }

    /// <summary>The train runs as uid 65532: everything under /input must be world-readable.</summary>
    public void MakeReadable()
    {
        foreach (var dir in Directory.GetDirectories(Input, "*", SearchOption.AllDirectories).Append(Input))
            File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101);
        foreach (var file in Directory.GetFiles(Input, "*", SearchOption.AllDirectories))
            File.SetUnixFileMode(file, (UnixFileMode)0b110_100_100);
    }

    public void Dispose() => Directory.Delete(root, recursive: true);
}

/// <summary>Rows shaped like the station's views for diabetes-risk, with diabetes that follows HbA1c and BMI.</summary>
internal static class SyntheticDiabetesViews
{
    public static void Write(string input, int patients)
    {
        var views = Path.Combine(input, "views");
        Directory.CreateDirectory(views);
        var random = new Random(11);
        using var p = new StreamWriter(Path.Combine(views, "patients.ndjson"));
        using var o = new StreamWriter(Path.Combine(views, "observations.ndjson"));
        using var d = new StreamWriter(Path.Combine(views, "diagnoses.ndjson"));
        for (var i = 0; i < patients; i++)
        {
            var key = $"Patient/{i:D5}";
            var hba1c = 5 + random.NextDouble() * 3;
            var bmi = 20 + random.NextDouble() * 20;
            var diabetic = hba1c + (bmi - 30) / 10 + random.NextDouble() > 7;
            p.WriteLine(JsonSerializer.Serialize(new { patient_key = key, gender = i % 2 == 0 ? "female" : "male", birth_date = $"{1940 + i % 50}-03-0{1 + i % 9}", deceased_date_time = (string?)null, deceased = (bool?)null }));
            o.WriteLine(JsonSerializer.Serialize(new { patient_key = key, status = "final", effective = "2015-05-05T10:00:00+00:00", feature = "hba1c", value = hba1c, unit = "%", comparator = (string?)null }));
            o.WriteLine(JsonSerializer.Serialize(new { patient_key = key, status = "final", effective = "2015-05-05T10:00:00+00:00", feature = "bmi", value = bmi, unit = "kg/m2", comparator = (string?)null }));
            o.WriteLine(JsonSerializer.Serialize(new { patient_key = key, status = "final", effective = "2015-05-05T10:00:00+00:00", feature = "systolic_bp", value = 110 + random.Next(40), unit = "mm[Hg]", comparator = (string?)null }));
            if (diabetic)
                d.WriteLine(JsonSerializer.Serialize(new { patient_key = key, code = "44054006", onset = "2016-01-01T00:00:00+00:00", verification_status = "confirmed" }));
        }
    }
}
