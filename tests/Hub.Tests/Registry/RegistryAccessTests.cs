using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Registry;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Tests.Registry;

public class RegistryAccessTests
{
    private static readonly Caller Alice = new(1, "alice", Roles.Researcher);
    private static readonly Caller Station = new(2, "hospital-a", Roles.Station);
    private static readonly Caller Operator = new(3, "operator", Roles.Operator);

    [Theory]
    [InlineData("/v2/alice/stats/manifests/1.0", "alice/stats")]
    [InlineData("/v2/alice/stats/blobs/uploads/", "alice/stats")]
    [InlineData("/v2/alice/deep/name/blobs/sha256:abc", "alice/deep/name")]
    [InlineData("/v2/alice/stats/tags/list", "alice/stats")]
    [InlineData("/v2/_catalog", null)]
    [InlineData("/v2/", null)]
    public void Finds_the_repository_in_a_registry_path(string path, string? repository) =>
        Assert.Equal(repository, RegistryAccess.RepositoryOf(path));

    [Theory]
    [InlineData("PUT", "/v2/alice/stats/manifests/1.0")]
    [InlineData("POST", "/v2/alice/stats/blobs/uploads/")]
    [InlineData("GET", "/v2/alice/stats/manifests/1.0")]
    [InlineData("GET", "/v2/")]
    public void Researchers_use_their_own_namespace(string method, string path) =>
        Assert.Null(RegistryAccess.Decide(Alice, method, path));

    [Theory]
    [InlineData("PUT", "/v2/bob/stats/manifests/1.0")]
    [InlineData("GET", "/v2/bob/stats/manifests/1.0")]
    [InlineData("POST", "/v2/alicex/stats/blobs/uploads/")]
    [InlineData("GET", "/v2/_catalog")]
    public void Researchers_are_refused_outside_their_namespace(string method, string path) =>
        Assert.NotNull(RegistryAccess.Decide(Alice, method, path));

    [Fact]
    public void Stations_only_pull()
    {
        Assert.Null(RegistryAccess.Decide(Station, "GET", "/v2/alice/stats/manifests/sha256:abc"));
        Assert.Null(RegistryAccess.Decide(Station, "HEAD", "/v2/alice/stats/blobs/sha256:abc"));
        Assert.Equal("stations may only pull", RegistryAccess.Decide(Station, "PUT", "/v2/alice/stats/manifests/1.0"));
        Assert.Equal("stations may only pull", RegistryAccess.Decide(Station, "DELETE", "/v2/alice/stats/manifests/sha256:abc"));
    }

    [Fact]
    public void Operators_may_do_anything() =>
        Assert.Null(RegistryAccess.Decide(Operator, "DELETE", "/v2/alice/stats/manifests/sha256:abc"));
}

public class RegistryNamesAndMountTests
{
    [Theory]
    [InlineData("alice/stats", true)]
    [InlineData("alice/deep/name-2", true)]
    [InlineData("alice/../bob/stats", false)]
    [InlineData("alice/Stats", false)]
    [InlineData("/alice/stats", false)]
    [InlineData("alice//stats", false)]
    public void Repository_names_follow_the_distribution_grammar(string name, bool valid) =>
        Assert.Equal(valid, RegistryNames.IsRepository(name));

    [Theory]
    [InlineData("1.0.0", true)]
    [InlineData("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", true)]
    [InlineData("../../../bob/stats/manifests/1.0", false)]
    [InlineData("sha256:xyz", false)]
    [InlineData("", false)]
    [InlineData("1.0/../x", false)]
    public void References_are_tags_or_digests_never_paths(string reference, bool valid) =>
        Assert.Equal(valid, RegistryNames.IsReference(reference));

    [Fact]
    public void A_blob_mount_needs_read_access_to_its_source()
    {
        var alice = new Caller(1, "alice", Roles.Researcher);
        Assert.Null(RegistryAccess.Decide(alice, "POST", "/v2/alice/x/blobs/uploads/", "alice/y"));
        Assert.NotNull(RegistryAccess.Decide(alice, "POST", "/v2/alice/x/blobs/uploads/", "bob/y"));
    }
}
