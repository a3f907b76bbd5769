using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// A pushed train is only submitted: the hub checks it (manifest, the author's signature by a registered key, a
/// non-root user, no exposed ports, size) and a hub operator publishes it, adding the hub's signature. Runs take
/// published trains only. A federation of its own whose hub publishes nothing by itself.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class PublicationTests(FederationFixture f)
{
    [Fact]
    public async Task A_train_is_checked_then_published_by_an_operator_and_only_then_runs()
    {
        var root = Directory.CreateTempSubdirectory("ht-publication-e2e-").FullName;
        await using var federation = await LocalFederation.StartAsync(new FederationOptions(root)
        {
            RegistryStorageDir = Path.Combine(f.Root, "ledger-test-registry"),
            AutoPublishKinds = [],
            StationPollSeconds = 2,
        });
        using var alice = await federation.AddResearcherAsync("alice");
        await federation.AddStationAsync("solo-clinic", Path.Combine(f.Root, "tiny-clinic-data"));

        // Pushed without a signature: submitted, with the failed check saying what to do.
        var unsigned = await new TrainPublisher(f.Docker, alice).PushAsync(f.Misbehaving.Reference);
        Assert.Equal(TrainStates.Submitted, unsigned.State);
        var signatureCheck = Assert.Single(unsigned.Checks, c => c.Name == "author-signature");
        Assert.False(signatureCheck.Passed);
        Assert.Contains("the image has no signature", signatureCheck.Detail);
        Assert.All(unsigned.Checks.Where(c => c.Name != "author-signature"), c => Assert.True(c.Passed, c.Name + ": " + c.Detail));
        var refused = await Assert.ThrowsAsync<HubApiException>(() => alice.StartRunAsync(new RunRequest(unsigned.Id, ["solo-clinic"])));
        Assert.Contains("is submitted, not published; only published trains can run", refused.Message);
        await Assert.ThrowsAsync<HubApiException>(() => federation.Operator.PublishTrainAsync(unsigned.Id, "looks fine"));

        // Signed with the key alice registered, then checked again: checked, waiting for an operator.
        var keyFile = Path.Combine(root, "alice.pem");
        federation.KeyOf(alice).Save(keyFile);
        var sign = new StringWriter();
        Assert.Equal(0, await ImageCommands.TrainAsync(new CliArgs(["sign", $"{unsigned.Repository}@{unsigned.Digest}", "--key", keyFile,
            "--hub", federation.HubUrl.ToString(), "--token", alice.Connection.Token]), sign));
        var checkOutput = new StringWriter();
        Assert.Equal(0, await ImageCommands.TrainAsync(new CliArgs(["check", unsigned.Id.ToString(),
            "--hub", federation.HubUrl.ToString(), "--token", alice.Connection.Token]), checkOutput));
        Assert.Contains("state: checked", checkOutput.ToString());
        Assert.Contains("waiting for a hub operator to publish it", checkOutput.ToString());
        var researcherPublish = await Assert.ThrowsAsync<HubApiException>(() => alice.PublishTrainAsync(unsigned.Id, null));
        Assert.Equal(System.Net.HttpStatusCode.Forbidden, researcherPublish.Status);

        // The operator publishes: the hub's signature is on the digest, for the pinned publication key.
        var published = await federation.Operator.PublishTrainAsync(unsigned.Id, "reviewed the manifest");
        Assert.Equal(TrainStates.Published, published.State);
        Assert.Equal("operator", published.DecidedBy);
        var hubKey = VerificationKey.Load(federation.HubPublicationKeyPath);
        Assert.Equal(hubKey.KeyId, published.PublicationKeyId);
        using (var http = new HttpClient { BaseAddress = new Uri(federation.HubUrl, "/") })
        {
            var registry = new SignatureRegistry(http, new RegistryCredentials("alice", alice.Connection.Token));
            var verification = await registry.VerifyAsync(published.Repository, published.Digest, [hubKey, federation.KeyOf(alice).PublicKey]);
            Assert.True(verification.IsSignedBy(hubKey));
            Assert.True(verification.IsSignedBy(federation.KeyOf(alice).PublicKey));
        }
        var run = await alice.StartRunAsync(new RunRequest(published.Id, ["solo-clinic"]));
        var done = await alice.WaitForRunAsync(run.Id, null, TimeSpan.FromMinutes(2));
        Assert.True(done.State == RunStates.Completed, string.Join("; ", done.Jobs.Select(j => $"{j.Station}: {j.State} {j.Error}")));

        // Every step is a ledger entry.
        var entries = await alice.GetLedgerEntriesAsync(0, 100);
        var kinds = entries.Select(e => e.Parse().Kind).ToList();
        Assert.Contains(HealthTrain.Trains.Protocol.Ledger.LedgerKinds.KeyAdded, kinds);
        Assert.Equal(2, kinds.Count(k => k == HealthTrain.Trains.Protocol.Ledger.LedgerKinds.TrainChecked));
        Assert.Contains(HealthTrain.Trains.Protocol.Ledger.LedgerKinds.TrainPublished, kinds);
        Assert.Contains(HealthTrain.Trains.Protocol.Ledger.LedgerKinds.ApprovalRecorded, kinds);
    }

    [Fact]
    public async Task A_root_image_that_exposes_a_port_fails_the_hubs_checks()
    {
        var root = Directory.CreateTempSubdirectory("ht-publication-e2e-").FullName;
        await using var federation = await LocalFederation.StartAsync(new FederationOptions(root)
        {
            RegistryStorageDir = Path.Combine(f.Root, "ledger-test-registry"),
        });
        using var alice = await federation.AddResearcherAsync("alice");
        var image = await f.FreshVariantAsync(f.Misbehaving, "USER 0", "EXPOSE 8080/tcp");

        var train = await federation.Publisher(f.Docker, alice).PushAsync(image);

        // Statistics trains are published by policy here, but only once every check passed.
        Assert.Equal(TrainStates.Submitted, train.State);
        var failed = train.Checks.Where(c => !c.Passed).ToDictionary(c => c.Name, c => c.Detail);
        Assert.Equal(["no-exposed-ports", "non-root"], failed.Keys.Order());
        Assert.Contains("runs as user '0'", failed["non-root"]);
        Assert.Contains("exposes 8080/tcp", failed["no-exposed-ports"]);
        Assert.True(train.Checks.Single(c => c.Name == "author-signature").Passed);

        // Alice revokes her key: her signature no longer counts when the hub checks again.
        var revoke = new StringWriter();
        Assert.Equal(0, await KeyCommands.RunAsync(new CliArgs(["revoke", federation.KeyOf(alice).KeyId,
            "--hub", federation.HubUrl.ToString(), "--token", alice.Connection.Token]), revoke));
        Assert.Contains($"revoked key {federation.KeyOf(alice).KeyId} of alice", revoke.ToString());
        var rechecked = await alice.CheckTrainAsync(train.Id);
        var signature = rechecked.Checks.Single(c => c.Name == "author-signature");
        Assert.False(signature.Passed);
        Assert.Equal("alice has no registered signing key (healthtrain keys register)", signature.Detail);
    }
}
