using HealthTrain.Trains.Protocol.Signing;
using Xunit.Abstractions;

namespace HealthTrain.Trains.Tests.Signing;

/// <summary>
/// Signatures written by the library, judged by an independent implementation: skopeo 1.18 (containers/image
/// 5.34) with a <c>sigstoreSigned</c> policy, pulling from a real registry. Each test pushes its own images.
/// </summary>
[Collection(SkopeoCollection.Name)]
public sealed class SkopeoVerificationTests(SkopeoFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task The_skopeo_image_is_built_from_its_recipe_and_runs_skopeo_1_18()
    {
        Assert.Matches("^healthtrain/skopeo:[0-9a-f]{16}$", fixture.Skopeo.Reference);
        Assert.StartsWith("1.18.", Assert.Single(fixture.Skopeo.Packages, p => p.Name == "skopeo").Version);
        var run = await fixture.RunSkopeoAsync(null, ["--version"]);
        Assert.True(run.Accepted, run.Output);
        Assert.Contains("skopeo version 1.18", run.Output);
        output.WriteLine($"{fixture.Skopeo.Reference}: ensured in {fixture.SkopeoBuildTime.TotalSeconds:0.0} s (steps: {fixture.Skopeo.Performed}); 'skopeo --version' container run {run.Elapsed.TotalSeconds:0.00} s");
        foreach (var line in fixture.Log) output.WriteLine("  " + line);
    }

    [Fact]
    public async Task An_image_signed_with_the_trusted_key_is_accepted()
    {
        using var author = SigningKey.Generate();
        var digest = await fixture.PushTinyImageAsync("alice/signed", "1.0", "signed " + Guid.NewGuid());

        var signature = await fixture.Registry.SignAsync("alice/signed", digest, author, creator: "healthtrain tests");

        var payload = SimpleSigningPayload.Parse(signature.Payload);
        Assert.Equal($"{fixture.RegistryHost}/alice/signed", payload.DockerReference);
        Assert.Equal(digest, payload.ManifestDigest);
        var verification = await fixture.Registry.VerifyAsync("alice/signed", digest, [author.PublicKey], expectedRepository: $"{fixture.RegistryHost}/alice/signed");
        Assert.Equal([author.KeyId], verification.SignedByKeyIds);

        var run = await fixture.CopyWithPolicyAsync("alice/signed", "1.0", [author.PublicKey]);
        output.WriteLine($"skopeo copy (signed, accepted) {run.Elapsed.TotalSeconds:0.00} s: {run.Output}");
        Assert.True(run.Accepted, run.Output);
    }

    [Fact]
    public async Task An_unsigned_image_is_refused()
    {
        using var author = SigningKey.Generate();
        var digest = await fixture.PushTinyImageAsync("alice/unsigned", "1.0", "unsigned " + Guid.NewGuid());

        Assert.Null(await fixture.Registry.ReadSignatureManifestAsync("alice/unsigned", digest));
        Assert.False((await fixture.Registry.VerifyAsync("alice/unsigned", digest, [author.PublicKey])).IsSigned);

        var run = await fixture.CopyWithPolicyAsync("alice/unsigned", "1.0", [author.PublicKey]);
        output.WriteLine($"skopeo copy (unsigned, refused) {run.Elapsed.TotalSeconds:0.00} s: {run.Output}");
        Assert.False(run.Accepted, run.Output);
        Assert.Contains("rejected", run.Output, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("signature", run.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task An_image_signed_only_by_another_key_is_refused()
    {
        using var author = SigningKey.Generate();
        using var stranger = SigningKey.Generate();
        var digest = await fixture.PushTinyImageAsync("alice/foreign", "1.0", "foreign " + Guid.NewGuid());
        await fixture.Registry.SignAsync("alice/foreign", digest, stranger);

        var verification = await fixture.Registry.VerifyAsync("alice/foreign", digest, [author.PublicKey]);
        Assert.False(verification.IsSigned);
        Assert.Contains("any trusted key", Assert.Single(verification.Checks).Problem);

        var run = await fixture.CopyWithPolicyAsync("alice/foreign", "1.0", [author.PublicKey]);
        output.WriteLine($"skopeo copy (other key, refused) {run.Elapsed.TotalSeconds:0.00} s: {run.Output}");
        Assert.False(run.Accepted, run.Output);
        Assert.Contains("rejected", run.Output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Author_and_hub_signatures_share_one_sig_manifest_and_a_policy_can_require_both()
    {
        using var author = SigningKey.Generate();
        using var hub = SigningKey.Generate();
        var both = await fixture.PushTinyImageAsync("alice/approved", "1.0", "approved " + Guid.NewGuid());
        var authorOnly = await fixture.PushTinyImageAsync("alice/approved", "2.0", "not yet approved " + Guid.NewGuid());

        await fixture.Registry.SignAsync("alice/approved", both, author);
        await fixture.Registry.SignAsync("alice/approved", both, hub);
        var authorSignature = await fixture.Registry.SignAsync("alice/approved", authorOnly, author);
        // Attaching a signature that is already there changes nothing.
        var again = await fixture.Registry.AttachAsync("alice/approved", authorOnly, authorSignature);
        Assert.Single(again.Layers);

        var manifest = await fixture.Registry.ReadSignatureManifestAsync("alice/approved", both);
        Assert.NotNull(manifest);
        Assert.Equal(2, manifest.Layers.Count);
        Assert.All(manifest.Layers, l => Assert.Equal(Cosign.SimpleSigningMediaType, l.MediaType));
        var verification = await fixture.Registry.VerifyAsync("alice/approved", both, [author.PublicKey, hub.PublicKey]);
        Assert.Equal([author.KeyId, hub.KeyId], verification.SignedByKeyIds);
        Assert.Equal([author.KeyId], (await fixture.Registry.VerifyAsync("alice/approved", authorOnly, [author.PublicKey, hub.PublicKey])).SignedByKeyIds);

        // Two requirements are ANDed by containers/image: author AND hub.
        var accepted = await fixture.CopyWithPolicyAsync("alice/approved", "1.0", [author.PublicKey], [hub.PublicKey]);
        output.WriteLine($"skopeo copy (author+hub required, both present) {accepted.Elapsed.TotalSeconds:0.00} s: {accepted.Output}");
        Assert.True(accepted.Accepted, accepted.Output);
        var refused = await fixture.CopyWithPolicyAsync("alice/approved", "2.0", [author.PublicKey], [hub.PublicKey]);
        output.WriteLine($"skopeo copy (author+hub required, hub missing) {refused.Elapsed.TotalSeconds:0.00} s: {refused.Output}");
        Assert.False(refused.Accepted, refused.Output);
        // keyPaths: either key suffices.
        var either = await fixture.CopyWithPolicyAsync("alice/approved", "2.0", [hub.PublicKey, author.PublicKey]);
        Assert.True(either.Accepted, either.Output);
    }

    [Fact]
    public async Task A_signature_manifest_copied_onto_another_image_is_refused()
    {
        using var author = SigningKey.Generate();
        var genuine = await fixture.PushTinyImageAsync("alice/replay", "good", "good " + Guid.NewGuid());
        var evil = await fixture.PushTinyImageAsync("alice/replay", "evil", "evil " + Guid.NewGuid());
        var signature = await fixture.Registry.SignAsync("alice/replay", genuine, author);

        // The library will not attach a signature to the wrong image...
        await Assert.ThrowsAsync<ArgumentException>(() => fixture.Registry.AttachAsync("alice/replay", evil, signature));
        // ...but an attacker with write access can copy the genuine, validly signed .sig manifest onto the other image.
        using (var get = new HttpRequestMessage(HttpMethod.Get, $"/v2/alice/replay/manifests/{Cosign.SignatureTag(genuine)}"))
        {
            get.Headers.Accept.ParseAdd(SignatureManifest.ManifestMediaType);
            using var stored = await fixture.Http.SendAsync(get);
            stored.EnsureSuccessStatusCode();
            var put = new ByteArrayContent(await stored.Content.ReadAsByteArrayAsync());
            put.Headers.ContentType = new(SignatureManifest.ManifestMediaType);
            using var copied = await fixture.Http.PutAsync($"/v2/alice/replay/manifests/{Cosign.SignatureTag(evil)}", put);
            Assert.Equal(System.Net.HttpStatusCode.Created, copied.StatusCode);
        }

        var verification = await fixture.Registry.VerifyAsync("alice/replay", evil, [author.PublicKey]);
        Assert.False(verification.IsSigned);
        var check = Assert.Single(verification.Checks);
        Assert.Equal(author.KeyId, check.KeyId);
        Assert.Contains("not for this image", check.Problem);

        var run = await fixture.CopyWithPolicyAsync("alice/replay", "evil", [author.PublicKey]);
        output.WriteLine($"skopeo copy (replayed signature, refused) {run.Elapsed.TotalSeconds:0.00} s: {run.Output}");
        Assert.False(run.Accepted, run.Output);
        Assert.True((await fixture.CopyWithPolicyAsync("alice/replay", "good", [author.PublicKey])).Accepted);
    }
}
