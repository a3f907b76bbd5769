using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Tests.Trains;

public sealed class TrainCatalogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-hub-").FullName;
    private readonly HubDatabase _db;
    private readonly Identities _identities;
    private readonly TrainCatalog _catalog;

    private static readonly TrainManifest Manifest = ManifestValidator.ParseOrThrow("""
        {"name":"stats","version":"1.0","authors":["a"],"kind":"statistics",
         "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],
         "outputs":{"statistics":[{"name":"patients","kind":"count"}]}}
        """);

    public TrainCatalogTests()
    {
        _db = new HubDatabase(Path.Combine(_dir, "hub.db"));
        _db.Migrate();
        _identities = new Identities(_db);
        _catalog = new TrainCatalog(_db, new LedgerStore(_db, LedgerSigner.FromKey(System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256))));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Registers_a_train_once_per_repository_and_version()
    {
        _identities.Create("alice", Roles.Researcher);
        var alice = _identities.FindByName("alice")!;
        var (train, created) = _catalog.Register(alice, "alice/stats", "sha256:aaa", Manifest);
        Assert.True(created);
        Assert.Equal(("alice", "alice/stats", "stats", "1.0", "sha256:aaa"), (train.Owner, train.Repository, train.Name, train.Version, train.Digest));
        Assert.Equal(Manifest.Outputs.Statistics[0], train.Manifest.Outputs.Statistics[0]);

        var (again, createdAgain) = _catalog.Register(alice, "alice/stats", "sha256:bbb", Manifest);
        Assert.False(createdAgain);
        Assert.Equal("sha256:aaa", again.Digest);
    }

    [Fact]
    public void Researchers_see_only_their_own_trains()
    {
        _identities.Create("alice", Roles.Researcher);
        _identities.Create("bob", Roles.Researcher);
        _identities.Create("operator", Roles.Operator);
        var alice = _identities.FindByName("alice")!;
        var bob = _identities.FindByName("bob")!;
        var (train, _) = _catalog.Register(alice, "alice/stats", "sha256:aaa", Manifest);
        Assert.Null(_catalog.Find(train.Id, bob));
        Assert.Empty(_catalog.List(bob));
        Assert.NotNull(_catalog.Find(train.Id, alice));
        Assert.Single(_catalog.List(_identities.FindByName("operator")!));
    }

    [Fact]
    public void Tokens_are_stored_only_as_hashes()
    {
        var created = _identities.Create("alice", Roles.Researcher);
        Assert.Equal("alice", _identities.FindByToken(created.Token)!.Name);
        Assert.Null(_identities.FindByToken(created.Token + "x"));
        using var c = _db.Open();
        using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT token_hash FROM identities";
        var stored = (string)cmd.ExecuteScalar()!;
        Assert.NotEqual(created.Token, stored);
        Assert.Equal(Identities.Hash(created.Token), stored);
    }
}
