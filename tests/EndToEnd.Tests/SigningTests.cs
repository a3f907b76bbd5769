using System.Net;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// <c>healthtrain keys new</c>, <c>train sign</c> and <c>train verify</c> against the real hub: signatures go through the
/// registry gateway with the hub's token auth, and only those allowed to push in a namespace can sign there.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class SigningTests(FederationFixture f)
{
    private string Dir { get; } = Directory.CreateTempSubdirectory("ht-signing-").FullName;

    private string[] Hub(string token) => ["--hub", f.Federation.HubUrl.ToString(), "--token", token];

    private async Task<(int Code, string Output)> TrainAsync(params string[] args)
    {
        var output = new StringWriter();
        var code = await ImageCommands.TrainAsync(new CliArgs(args, "json", "watch", "refresh"), output);
        return (code, output.ToString());
    }

    /// <summary>A new key pair through the CLI; returns the private key's path and the key id it printed.</summary>
    private async Task<(string Path, string KeyId)> NewKeyAsync(string name, params string[] extra)
    {
        var path = Path.Combine(Dir, name);
        var output = new StringWriter();
        Assert.Equal(0, await KeyCommands.RunAsync(new CliArgs(["new", "--out", path, .. extra]), output));
        var keyId = SigningKey.Load(path, extra.Length == 0 ? null : Environment.GetEnvironmentVariable(extra[^1])).KeyId;
        Assert.Contains(keyId, output.ToString());
        return (path, keyId);
    }

    [Fact]
    public async Task Keys_new_writes_an_owner_only_private_key_and_its_public_key_and_never_overwrites()
    {
        var (path, keyId) = await NewKeyAsync("plain.pem");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", await File.ReadAllTextAsync(path));
        Assert.Equal(keyId, VerificationKey.Load(path + ".pub").KeyId);

        var variable = "HT_TEST_PASSPHRASE_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable(variable, "correct horse battery staple");
        var (encrypted, _) = await NewKeyAsync("encrypted.pem", "--passphrase-env", variable);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(encrypted));
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", await File.ReadAllTextAsync(encrypted));
        Assert.Throws<SigningKeyException>(() => SigningKey.Load(encrypted));

        var before = await File.ReadAllTextAsync(path);
        await Assert.ThrowsAsync<IOException>(() => KeyCommands.RunAsync(new CliArgs(["new", "--out", path]), new StringWriter()));
        Assert.Equal(before, await File.ReadAllTextAsync(path));
        // Nor is a passphrase ever taken on the command line.
        await Assert.ThrowsAsync<UsageException>(() => KeyCommands.RunAsync(new CliArgs(["new", "--out", Path.Combine(Dir, "x.pem"), "--passphrase", "secret"]), new StringWriter()));
        Assert.False(File.Exists(Path.Combine(Dir, "x.pem")));
    }

    [Fact]
    public async Task Alice_signs_her_train_through_the_gateway_and_verify_names_the_keys_that_signed()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var (key, keyId) = await NewKeyAsync("alice.pem");
        var image = $"{train.Repository}@{train.Digest}";

        var signed = await TrainAsync(["sign", image, "--key", key, .. Hub(f.Alice.Connection.Token)]);
        Assert.Equal(0, signed.Code);
        Assert.Contains(keyId, signed.Output);
        Assert.Contains(train.Digest, signed.Output);

        // A second key signs by tag, passphrase from the environment: the signature is appended, not replacing the first.
        var variable = "HT_TEST_PASSPHRASE_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable(variable, "another passphrase");
        var (second, secondId) = await NewKeyAsync("alice-2.pem", "--passphrase-env", variable);
        var byTag = await TrainAsync(["sign", $"{train.Repository}:{train.Version}", "--key", second, "--passphrase-env", variable, .. Hub(f.Alice.Connection.Token)]);
        Assert.Equal(0, byTag.Code);
        Assert.Contains(train.Digest, byTag.Output);

        var verified = await TrainAsync(["verify", image, "--key", key + ".pub", "--key", second + ".pub", .. Hub(f.Alice.Connection.Token)]);
        Assert.Equal(0, verified.Code);
        Assert.Contains($"signed by     {keyId}", verified.Output);
        Assert.Contains($"signed by     {secondId}", verified.Output);

        var (other, otherId) = await NewKeyAsync("someone-else.pem");
        var notSigned = await TrainAsync(["verify", image, "--key", other + ".pub", .. Hub(f.Alice.Connection.Token)]);
        Assert.Equal(1, notSigned.Code);
        Assert.Contains($"not signed by {otherId}", notSigned.Output);
        Assert.Contains("NOT VERIFIED", notSigned.Output);

        // Stored as cosign stores it, naming the image as pulled through the hub: HUB_HOST:PORT/REPOSITORY.
        var recorder = new RecordingHandler();
        using var http = new HttpClient(recorder) { BaseAddress = f.Federation.HubUrl };
        var registry = new SignatureRegistry(http, new RegistryCredentials("alice", f.Alice.Connection.Token));
        var manifest = await registry.ReadSignatureManifestAsync(train.Repository, train.Digest);
        Assert.NotNull(manifest);
        // The registry wants the hub's tokens: challenged, the client fetched one with alice's Basic credentials and
        // retried with it; the next read reuses the cached token for that scope.
        Assert.Collection(recorder.Requests,
            r => Assert.Equal(("GET", "/v2/" + train.Repository + "/manifests/" + Cosign.SignatureTag(train.Digest), "Basic", HttpStatusCode.Unauthorized), r),
            r => Assert.Equal(("GET", "/v2/token", "Basic", HttpStatusCode.OK), r),
            r => Assert.Equal(("GET", "/v2/" + train.Repository + "/manifests/" + Cosign.SignatureTag(train.Digest), "Bearer", HttpStatusCode.OK), r));
        recorder.Requests.Clear();
        Assert.NotNull(await registry.ReadSignatureManifestAsync(train.Repository, train.Digest));
        Assert.Equal(("GET", "/v2/" + train.Repository + "/manifests/" + Cosign.SignatureTag(train.Digest), "Bearer", HttpStatusCode.OK), Assert.Single(recorder.Requests));
        var verification = await registry.VerifyAsync(train.Repository, train.Digest,
            [VerificationKey.Load(key + ".pub")], $"{f.Federation.HubUrl.Authority}/{train.Repository}");
        var check = Assert.Single(verification.Checks, c => c.IsValid);
        Assert.Equal($"{f.Federation.HubUrl.Authority}/{train.Repository}", check.Payload!.DockerReference);
        Assert.Equal(train.Digest, check.Payload.ManifestDigest);
    }

    private sealed class RecordingHandler() : DelegatingHandler(new HttpClientHandler())
    {
        public List<(string Method, string Path, string? Scheme, HttpStatusCode Status)> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            lock (Requests) Requests.Add((request.Method.Method, request.RequestUri!.AbsolutePath, request.Headers.Authorization?.Scheme, response.StatusCode));
            return response;
        }
    }

    [Fact]
    public async Task A_station_can_verify_but_cannot_write_a_signature()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var (key, _) = await NewKeyAsync("alice-for-station.pem");
        var image = $"{train.Repository}@{train.Digest}";
        Assert.Equal(0, (await TrainAsync(["sign", image, "--key", key, .. Hub(f.Alice.Connection.Token)])).Code);

        var station = await f.Federation.Operator.CreateIdentityAsync("station-" + Guid.NewGuid().ToString("N")[..6], Roles.Station);
        var (stationKey, stationKeyId) = await NewKeyAsync("station.pem");
        var refused = await Assert.ThrowsAsync<SignatureRegistryException>(() => TrainAsync(["sign", image, "--key", stationKey, .. Hub(station.Token)]));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("stations may only pull", refused.Message);

        // Reading is allowed: alice's signature verifies for the station, and nothing of the station's was stored.
        var verified = await TrainAsync(["verify", image, "--key", key + ".pub", "--key", stationKey + ".pub", .. Hub(station.Token)]);
        Assert.Equal(0, verified.Code);
        Assert.Contains($"not signed by {stationKeyId}", verified.Output);
    }

    [Fact]
    public async Task Bob_cannot_sign_in_alices_namespace()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        using var bob = await f.Federation.AddResearcherAsync("bob-" + Guid.NewGuid().ToString("N")[..6]);
        var (bobKey, _) = await NewKeyAsync("bob.pem");
        var image = $"{train.Repository}@{train.Digest}";

        var refused = await Assert.ThrowsAsync<SignatureRegistryException>(() => TrainAsync(["sign", image, "--key", bobKey, .. Hub(bob.Connection.Token)]));
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("may only use repositories under", refused.Message);

        var check = await TrainAsync(["verify", image, "--key", bobKey + ".pub", .. Hub(f.Alice.Connection.Token)]);
        Assert.Equal(1, check.Code);
    }

    [Fact]
    public async Task Image_names_are_checked_before_anything_is_sent()
    {
        var (key, _) = await NewKeyAsync("names.pem");
        await Assert.ThrowsAsync<UsageException>(() => TrainAsync(["sign", "alice/misbehaving-train", "--key", key, .. Hub(f.Alice.Connection.Token)]));
        await Assert.ThrowsAsync<UsageException>(() => TrainAsync(["sign", "alice/misbehaving-train@sha256:abc", "--key", key, .. Hub(f.Alice.Connection.Token)]));
        await Assert.ThrowsAsync<UsageException>(() => TrainAsync(["sign", "docker.io/alice/misbehaving-train:1", "--key", key, .. Hub(f.Alice.Connection.Token)]));
        await Assert.ThrowsAsync<UsageException>(() => TrainAsync(["verify", "alice/misbehaving-train:1", .. Hub(f.Alice.Connection.Token)]));
        await Assert.ThrowsAsync<UsageException>(() => TrainAsync(["sign", "alice/misbehaving-train:1", "--key", key, "--kee", "x", .. Hub(f.Alice.Connection.Token)]));
    }
}
