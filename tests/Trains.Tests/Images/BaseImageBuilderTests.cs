using HealthTrain.Cli.Images;

namespace HealthTrain.Trains.Tests.Images;

/// <summary>The two base images against the real daemon: caching, rootfs contents, /app ownership and modes.</summary>
[Collection(DockerImagesCollection.Name)]
public sealed class BaseImageBuilderTests(DockerImagesFixture fixture)
{
    [Fact]
    public async Task A_second_build_finds_both_images_and_does_no_work()
    {
        var again = await fixture.BaseBuilder.BuildAsync();

        Assert.Equal(fixture.FirstBaseBuild.BaseReference, again.BaseReference);
        Assert.Equal(fixture.FirstBaseBuild.RuntimeReference, again.RuntimeReference);
        // None: no apt-get update, no seed publish, no image built.
        Assert.Equal(BaseBuildSteps.None, again.Performed);
        Assert.False(again.Built);
        Assert.Equal(fixture.FirstBaseBuild.RuntimeFiles.Text, again.RuntimeFiles.Text);
    }

    [Fact]
    public void References_are_content_hash_tags_of_the_expected_repositories()
    {
        var build = fixture.FirstBaseBuild;
        Assert.Matches("^healthtrain/trixie-base:[0-9a-f]{16}$", build.BaseReference);
        Assert.Matches("^healthtrain/dotnet-runtime:[0-9a-f]{16}$", build.RuntimeReference);
        var recipe = BaseRecipe.Load(Path.Combine(ImageTestEnvironment.RepositoryRoot, "Trains", "BaseImages", BaseRecipe.FileName));
        Assert.Equal("healthtrain/trixie-base:" + BaseImageBuilder.ComputeBaseHash(recipe, build.Packages)[..16], build.BaseReference);
        Assert.Equal(recipe.Packages, build.Packages.Select(p => p.Name));
    }

    [Fact]
    public async Task The_base_rootfs_has_the_train_user_a_sticky_tmp_and_usr_merge_links()
    {
        var docker = fixture.Docker;
        var image = fixture.FirstBaseBuild.BaseReference;

        var passwd = Assert.Single(await ImageInspection.CopyOutAsync(docker, image, "/etc/passwd"));
        Assert.Contains("train:x:65532:65532:", passwd.Text);
        Assert.Contains("nobody:x:65534:65534:", passwd.Text);
        Assert.Contains("train:x:65532:", Assert.Single(await ImageInspection.CopyOutAsync(docker, image, "/etc/group")).Text);

        var tmp = (await ImageInspection.CopyOutAsync(docker, image, "/tmp"))[0];
        Assert.Equal((UnixFileMode)0b1_111_111_111, tmp.Mode); // 1777

        var lib64 = Assert.Single(await ImageInspection.CopyOutAsync(docker, image, "/lib64"));
        Assert.Equal("usr/lib64", lib64.LinkName);
        var libc = Assert.Single(await ImageInspection.CopyOutAsync(docker, image, "/usr/lib/x86_64-linux-gnu/libc.so.6"));
        Assert.Equal(0, libc.Uid);

        // The recipe's excludes took effect.
        var lib = await ImageInspection.CopyOutAsync(docker, image, "/usr/lib/x86_64-linux-gnu");
        Assert.DoesNotContain(lib, e => e.Name.Contains("/gconv/", StringComparison.Ordinal));
        await Assert.ThrowsAnyAsync<Docker.DotNet.DockerApiException>(() => ImageInspection.CopyOutAsync(docker, image, "/usr/share/doc"));
    }

    [Fact]
    public async Task The_runtime_image_holds_the_listed_runtime_files_root_owned_and_read_only()
    {
        var docker = fixture.Docker;
        var build = fixture.FirstBaseBuild;

        var listed = await RuntimeFileList.ReadFromImageAsync(docker, build.RuntimeReference);
        Assert.Equal(build.RuntimeFiles.Text, listed.Text);
        Assert.Contains("libcoreclr.so", listed.Files.Keys);
        Assert.Contains("System.Private.CoreLib.dll", listed.Files.Keys);
        Assert.DoesNotContain(listed.Files.Keys, f => f.StartsWith("RuntimeSeed", StringComparison.Ordinal) || f.EndsWith(".pdb", StringComparison.Ordinal));

        var app = await ImageInspection.CopyOutAsync(docker, build.RuntimeReference, "/app");
        var coreclr = Assert.Single(app, e => e.Name == "app/libcoreclr.so");
        Assert.Equal((0, 0), (coreclr.Uid, coreclr.Gid));
        Assert.Equal((UnixFileMode)0b110_100_100, coreclr.Mode); // 0644
        Assert.Equal(listed.Files["libcoreclr.so"], Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(coreclr.Content)));
        var createdump = Assert.Single(app, e => e.Name == "app/createdump");
        Assert.Equal((UnixFileMode)0b111_101_101, createdump.Mode); // 0755: an executable
        Assert.All(app, e => Assert.False(e.Mode.HasFlag(UnixFileMode.OtherWrite) || e.Mode.HasFlag(UnixFileMode.GroupWrite), e.Name));

        var inspect = await docker.Images.InspectImageAsync(build.RuntimeReference);
        Assert.Equal("65532:65532", inspect.Config.User);
    }
}
