using HealthTrain.Station.Inspection;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Station.Tests.Inspection;

public sealed class TrainSignaturesTests : IDisposable
{
    private const string Repository = "alice/stats";
    private static readonly string Digest = "sha256:" + new string('a', 64);
    private readonly SigningKey hub = SigningKey.Generate();
    private readonly SigningKey alice = SigningKey.Generate();
    private readonly SigningKey mallory = SigningKey.Generate();

    public void Dispose()
    {
        hub.Dispose();
        alice.Dispose();
        mallory.Dispose();
    }

    private StoredSignature Author(SigningKey key, string digest = "", string repository = Repository) =>
        Stored(ImageSignature.Create(key, new SimpleSigningPayload($"127.0.0.1:7000/{repository}", digest == "" ? Digest : digest)));

    private StoredSignature Publication(SigningKey vouchedFor, string role = "publication") =>
        Stored(ImageSignature.Create(hub, new SimpleSigningPayload($"127.0.0.1:7000/{Repository}", Digest)
        {
            Annotations = new Dictionary<string, string>
            {
                [TrainSignatures.RoleAnnotation] = role,
                [TrainSignatures.AuthorAnnotation] = "alice",
                [TrainSignatures.AuthorKeyAnnotation] = Convert.ToBase64String(vouchedFor.PublicKey.SubjectPublicKeyInfo),
            },
        }));

    private static StoredSignature Stored(ImageSignature s) => new(s.ToLayer(), s.Payload.ToArray());

    private TrainSignatures Verifier(string policy = AuthorPolicies.HubVouched, params (string, SigningKey)[] authors) =>
        new(new TrustStore([hub.PublicKey], [.. authors.Select(a => (a.Item1, a.Item2.PublicKey))], policy));

    [Fact]
    public void Hub_vouched_author_and_hub_publication_are_both_named()
    {
        var findings = Verifier().Verify(Repository, Digest, [Author(alice), Publication(alice)]);
        Assert.True(findings.Trusted, string.Join("; ", findings.Problems));
        Assert.Equal([(ImageSigner.HubRole, hub.KeyId), (ImageSigner.AuthorRole, alice.KeyId)], findings.Signers.Select(s => (s.Role, s.KeyId)));
        Assert.Equal("alice", findings.Signers[1].Name);
    }

    [Fact]
    public void An_author_signature_by_another_key_than_the_one_the_hub_vouched_for_is_refused()
    {
        var findings = Verifier().Verify(Repository, Digest, [Author(mallory), Publication(alice)]);
        Assert.Contains(findings.Problems, p => p.StartsWith("no valid signature by the author key the hub vouched for (alice)"));
    }

    [Fact]
    public void Without_the_hubs_publication_nothing_counts()
    {
        Assert.Contains(Verifier().Verify(Repository, Digest, [Author(alice)]).Problems,
            p => p == "no valid publication signature by a trusted hub key: the signature does not verify with any trusted key");
        // A hub signature that is not a publication (another role) does not publish.
        Assert.Contains(Verifier().Verify(Repository, Digest, [Author(alice), Publication(alice, role: "test")]).Problems,
            p => p.Contains("a valid signature that is not a publication"));
        Assert.Equal(["the image is not signed: no publication signature by the hub and no author signature"], Verifier().Verify(Repository, Digest, []).Problems);
    }

    [Fact]
    public void Trusted_authors_policy_needs_an_author_the_station_lists()
    {
        var strict = Verifier(AuthorPolicies.TrustedAuthors, ("alice (oncology)", alice));
        var ok = strict.Verify(Repository, Digest, [Author(alice), Publication(alice)]);
        Assert.True(ok.Trusted);
        Assert.Equal("alice (oncology)", ok.Signers.Single(s => s.Role == ImageSigner.AuthorRole).Name);

        // The hub vouched for mallory's key, but this station trusts only alice.
        var refused = strict.Verify(Repository, Digest, [Author(mallory), Publication(mallory)]);
        Assert.Contains(refused.Problems, p => p.StartsWith("no valid signature by an author this station trusts"));
    }

    [Fact]
    public void Signatures_for_another_repository_or_digest_do_not_count()
    {
        var findings = Verifier().Verify(Repository, Digest, [Author(alice, repository: "mallory/stats"), Publication(alice)]);
        Assert.Contains(findings.Problems, p => p.Contains("names '127.0.0.1:7000/mallory/stats'"));
        var otherDigest = Verifier().Verify(Repository, Digest, [Author(alice, digest: "sha256:" + new string('b', 64)), Publication(alice)]);
        Assert.Contains(otherDigest.Problems, p => p.Contains("not for this image"));
    }

    [Fact]
    public void A_station_without_hub_keys_says_so()
    {
        var findings = new TrainSignatures(new TrustStore([], [], AuthorPolicies.HubVouched)).Verify(Repository, Digest, [Author(alice), Publication(alice)]);
        Assert.Contains("this station trusts no hub key (Station:Trust:HubKeys), so no train can be verified", findings.Problems);
    }
}
