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
