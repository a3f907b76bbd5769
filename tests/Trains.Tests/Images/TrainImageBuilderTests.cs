using System.Text.Json.Nodes;
using Docker.DotNet.Models;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests.Images;

/// <summary>Train images against the real daemon: manifest label, user, entrypoint, the delta layer and the test-only variants.</summary>
[Collection(DockerImagesCollection.Name)]
public sealed class TrainImageBuilderTests(DockerImagesFixture fixture)
{
    private static string TrainJson => File.ReadAllText(Path.Combine(ImageTestEnvironment.MisbehavingTrain, "train.json"));

    [Fact]
    public async Task The_image_carries_train_json_as_its_manifest_label_and_runs_as_the_train_user()
    {
        var image = fixture.MisbehavingImage;
        Assert.Equal("healthtrain/misbehaving-train:1.1.0", image.Reference);
        Assert.Equal("misbehaving-train", image.Manifest.Name);

        var inspect = await fixture.Docker.Images.InspectImageAsync(image.Reference);
        Assert.Equal(image.ImageId, inspect.ID);
        var label = inspect.Config.Labels[TrainManifest.LabelKey];
        Assert.DoesNotContain('\n', label); // compacted
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(TrainJson), JsonNode.Parse(label)), label);
        Assert.Empty(ManifestValidator.Parse(label).Errors);
        Assert.Equal("misbehaving-train", inspect.Config.Labels["org.opencontainers.image.title"]);
        Assert.Equal("1.1.0", inspect.Config.Labels["org.opencontainers.image.version"]);

        Assert.Equal("65532:65532", inspect.Config.User);
        Assert.Equal("/tmp", inspect.Config.WorkingDir);
        Assert.Equal(["/app/misbehaving-train"], inspect.Config.Entrypoint);
    }

    [Fact]
    public async Task The_train_layer_holds_only_the_trains_own_files()
    {
        var publish = fixture.MisbehavingPublish;
        Assert.Contains("misbehaving-train.dll", publish.DeltaFiles);
        Assert.Contains("misbehaving-train", publish.DeltaFiles);
        Assert.DoesNotContain("libcoreclr.so", publish.DeltaFiles);
        Assert.DoesNotContain("System.Private.CoreLib.dll", publish.DeltaFiles);
        Assert.True(publish.TotalFiles > 150, $"a self-contained publish has the whole runtime, got {publish.TotalFiles} files");
        Assert.True(publish.DeltaBytes * 50 < publish.TotalBytes, $"delta {publish.DeltaBytes} B of {publish.TotalBytes} B");

        // What Docker actually stored: the top layer is /app's delta and nothing else.
        var top = await ImageInspection.TopLayerFilesAsync(fixture.Docker, fixture.MisbehavingImage.Reference);
        Assert.Equal(publish.DeltaFiles.Select(f => "app/" + f).Order(StringComparer.Ordinal), top.Order(StringComparer.Ordinal));
        Assert.True(fixture.MisbehavingImage.LayerBytes < 1024 * 1024, $"train layer is {fixture.MisbehavingImage.LayerBytes} B");

        var runtime = await fixture.Docker.Images.InspectImageAsync(publish.BaseImages.RuntimeReference);
        var train = await fixture.Docker.Images.InspectImageAsync(fixture.MisbehavingImage.Reference);
        Assert.Equal(runtime.RootFS.Layers, train.RootFS.Layers.Take(runtime.RootFS.Layers.Count));
        Assert.Equal(runtime.RootFS.Layers.Count + 1, train.RootFS.Layers.Count);
    }

    [Fact]
    public async Task Test_variants_come_from_the_same_publish_with_their_own_tag_label_and_entrypoint()
    {
        var docker = fixture.Docker;
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var variants = new List<string>();
        try
        {
            var unlabelled = await fixture.TrainBuilder.BuildImageAsync(fixture.MisbehavingPublish, new TrainImageOptions
            {
                Reference = $"healthtrain-test/no-manifest:{suffix}",
                ManifestLabel = ManifestLabel.Omitted,
            });
            variants.Add(unlabelled.Reference);
            var malformed = await fixture.TrainBuilder.BuildImageAsync(fixture.MisbehavingPublish, new TrainImageOptions
            {
                Reference = $"healthtrain-test/bad-manifest:{suffix}",
                ManifestLabel = ManifestLabel.Literal("{\"name\": \"Not Valid\""),
                EntrypointArguments = ["--behaviour=crash", "two words"],
            });
            variants.Add(malformed.Reference);

            var noLabel = await docker.Images.InspectImageAsync(unlabelled.Reference);
            Assert.False(noLabel.Config.Labels?.ContainsKey(TrainManifest.LabelKey) ?? false);
            Assert.Equal(["/app/misbehaving-train"], noLabel.Config.Entrypoint);

            var badLabel = await docker.Images.InspectImageAsync(malformed.Reference);
            Assert.Equal("{\"name\": \"Not Valid\"", badLabel.Config.Labels[TrainManifest.LabelKey]);
            Assert.Equal(["/app/misbehaving-train", "--behaviour=crash", "two words"], badLabel.Config.Entrypoint);
            Assert.NotEmpty(ManifestValidator.Parse(badLabel.Config.Labels[TrainManifest.LabelKey]).Errors);

            // The baked-in argument wins over parameters.json: the variant crashes although "ok" is asked for.
            using var run = new TrainRun("{\"behaviour\":\"ok\"}", ["{\"resourceType\":\"Patient\",\"id\":\"p1\"}"]);
            var result = await run.RunAsync(docker, malformed.Reference, TimeSpan.FromSeconds(60));
            Assert.Equal(3, result.ExitCode);
            Assert.Contains("behaviour 'crash'", result.Stderr);
        }
        finally
        {
            foreach (var reference in variants)
                await docker.Images.DeleteImageAsync(reference, new ImageDeleteParameters { Force = true });
        }
    }

    [Fact]
    public async Task A_train_that_does_not_compile_fails_with_the_compiler_errors()
    {
        var dir = Directory.CreateTempSubdirectory("healthtrain-broken-train-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "train.json"), TrainJson);
            File.WriteAllText(Path.Combine(dir, "Broken.csproj"), """
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(dir, "Program.cs"), "this is not C#");

            var error = await Assert.ThrowsAsync<ImageBuildException>(() => fixture.TrainBuilder.BuildAsync(dir));
            Assert.Contains("dotnet publish of train misbehaving-train failed", error.Message);
            Assert.Matches(@"error CS\d{4}", error.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
