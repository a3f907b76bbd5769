using Docker.DotNet;
using HealthTrain.Cli.Images;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests.Images;

/// <summary>Checks on the builders' inputs (recipe, hashes, manifest, train directory) that need no Docker daemon.</summary>
public sealed class ImageInputTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("healthtrain-image-input-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static readonly ResolvedPackage Libc = new("libc6", "2.41-12", "amd64", new string('a', 64));
    private static readonly ResolvedPackage Tzdata = new("tzdata", "2025b-4", "all", new string('b', 64));

    [Fact]
    public void The_repository_recipe_parses_and_names_the_runtime_libraries()
    {
        var recipe = BaseRecipe.Load(Path.Combine(ImageTestEnvironment.RepositoryRoot, "Trains", "BaseImages", BaseRecipe.FileName));
        Assert.Contains("libc6", recipe.Packages);
        Assert.Contains("libstdc++6", recipe.Packages);
        Assert.Contains("libgcc-s1", recipe.Packages);
        Assert.Contains("usr/share/doc", recipe.Excludes);
    }

    [Fact]
    public void A_recipe_keeps_packages_and_excludes_and_ignores_comments()
    {
        var recipe = BaseRecipe.Parse("# comment\nlibc6   # trailing\n\nlibstdc++6\nexclude /usr/share/doc/\n");
        Assert.Equal(["libc6", "libstdc++6"], recipe.Packages);
        Assert.Equal(["usr/share/doc"], recipe.Excludes);
    }

    [Fact]
    public void A_recipe_reports_every_bad_line()
    {
        var error = Assert.Throws<ImageBuildException>(() => BaseRecipe.Parse("libc6\nlibc6\nexclude ../etc\nNot A Package\n", "r.packages"));
        Assert.Contains("r.packages:2: package 'libc6' is listed twice", error.Message);
        Assert.Contains("r.packages:3:", error.Message);
        Assert.Contains("r.packages:4: 'Not A Package'", error.Message);
        Assert.Throws<ImageBuildException>(() => BaseRecipe.Parse("# nothing\n"));
    }

    [Fact]
    public void The_base_hash_changes_with_the_recipe_and_with_any_package_version()
    {
        var recipe = BaseRecipe.Parse("libc6\ntzdata\n");
        var hash = BaseImageBuilder.ComputeBaseHash(recipe, [Libc, Tzdata]);

        Assert.Equal(hash, BaseImageBuilder.ComputeBaseHash(BaseRecipe.Parse("libc6\ntzdata\n"), [Libc, Tzdata]));
        Assert.NotEqual(hash, BaseImageBuilder.ComputeBaseHash(recipe, [Libc with { Version = "2.41-13" }, Tzdata]));
        Assert.NotEqual(hash, BaseImageBuilder.ComputeBaseHash(recipe, [Libc, Tzdata with { Sha256 = new string('c', 64) }]));
        Assert.NotEqual(hash, BaseImageBuilder.ComputeBaseHash(BaseRecipe.Parse("libc6\ntzdata\nexclude usr/share/doc\n"), [Libc, Tzdata]));
    }

    [Fact]
    public void The_runtime_file_list_round_trips_and_matches_on_path_and_hash()
    {
        File.WriteAllText(Path.Combine(dir, "libcoreclr.so"), "runtime");
        Directory.CreateDirectory(Path.Combine(dir, "sub"));
        File.WriteAllText(Path.Combine(dir, "sub", "x.dll"), "x");
        File.WriteAllText(Path.Combine(dir, "RuntimeSeed.dll"), "seed");

        var list = RuntimeFileList.FromDirectory(dir, path => !path.StartsWith("RuntimeSeed", StringComparison.Ordinal));
        Assert.Equal(["libcoreclr.so", "sub/x.dll"], list.Files.Keys);
        var sha = list.Files["libcoreclr.so"];
        Assert.StartsWith(sha + "  libcoreclr.so\n", list.Text);
        Assert.True(list.Contains("libcoreclr.so", sha));
        Assert.False(list.Contains("libcoreclr.so", new string('0', 64)));
        Assert.False(list.Contains("other/libcoreclr.so", sha));

        var parsed = RuntimeFileList.Parse(list.Text);
        Assert.Equal(list.Text, parsed.Text);
        Assert.Equal(list.Sha256, parsed.Sha256);
        Assert.NotEqual(
            BaseImageBuilder.ComputeRuntimeHash("healthtrain/trixie-base:1", list),
            BaseImageBuilder.ComputeRuntimeHash("healthtrain/trixie-base:2", list));
        Assert.Throws<FormatException>(() => RuntimeFileList.Parse("not a list line\n"));
    }

    [Fact]
    public void An_invalid_train_json_is_rejected_with_the_file_and_every_field_path()
    {
        File.WriteAllText(Path.Combine(dir, "train.json"), """
            {
              "format": 1, "name": "Bad Name", "version": "1.0.0", "authors": ["a"], "kind": "statistics",
              "inputs": [{ "kind": "fhir-resources", "resourceType": "Patient" }],
              "outputs": { "statistics": [{ "name": "patients", "kind": "median" }] },
              "resources": { "memoryMb": 1 }
            }
            """);
        var error = Assert.Throws<ProtocolValidationException>(() => TrainImageBuilder.ReadManifest(dir));
        Assert.Contains(Path.Combine(dir, "train.json"), error.Message);
        Assert.Contains(error.Errors, e => e.Path == "$.name");
        Assert.Contains(error.Errors, e => e.Path == "$.outputs.statistics[0].kind");
        Assert.Contains(error.Errors, e => e.Path == "$.resources.memoryMb");
        Assert.Contains("$.outputs.statistics[0].kind: 'median' is not a statistic kind", error.Message);
    }

    [Fact]
    public void A_valid_train_json_is_returned_with_its_compacted_text()
    {
        var (manifest, json) = TrainImageBuilder.ReadManifest(ImageTestEnvironment.MisbehavingTrain);
        Assert.Equal("misbehaving-train", manifest.Name);
        Assert.Equal(TrainKinds.Statistics, manifest.Kind);
        Assert.Equal("patients", Assert.Single(manifest.Outputs.Statistics).Name);
        var behaviour = Assert.Single(manifest.Parameters, p => p.Name == "behaviour");
        Assert.Equal("ok", behaviour.Default?.GetString());
        Assert.StartsWith("{\"format\":1,\"name\":\"misbehaving-train\"", json);
        Assert.Equal("healthtrain/misbehaving-train:1.1.0", TrainImageBuilder.DefaultReference(manifest));
        Assert.Equal("healthtrain/x:1.0.0_build.5", TrainImageBuilder.DefaultReference(manifest with { Name = "x", Version = "1.0.0+build.5" }));
    }

    [Fact]
    public async Task A_train_directory_without_a_manifest_or_with_two_projects_is_refused_before_any_build()
    {
        // Never contacted: these checks come before the base images.
        using var docker = new DockerClientConfiguration(new Uri("unix:///nonexistent.sock")).CreateClient();
        var builder = new TrainImageBuilder(docker, new BaseImageBuilder(docker, BaseImageOptions.ForRepository(dir)));

        await Assert.ThrowsAsync<FileNotFoundException>(() => builder.PublishAsync(dir));

        File.Copy(Path.Combine(ImageTestEnvironment.MisbehavingTrain, "train.json"), Path.Combine(dir, "train.json"));
        File.WriteAllText(Path.Combine(dir, "A.csproj"), "<Project />");
        File.WriteAllText(Path.Combine(dir, "B.csproj"), "<Project />");
        var error = await Assert.ThrowsAsync<ImageBuildException>(() => builder.PublishAsync(dir));
        Assert.Contains("holds 2 projects", error.Message);
    }
}
