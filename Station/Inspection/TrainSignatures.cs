using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Station.Inspection;

/// <summary>Who validly signed an image, and every reason the signatures do not suffice (empty when they do).</summary>
public sealed record SignatureFindings(IReadOnlyList<ImageSigner> Signers, IReadOnlyList<string> Problems)
{
    public bool Trusted => Problems.Count == 0;
}

/// <summary>
/// Verifies a train image's cosign signatures against the station's trust store: a publication signature by a trusted hub
/// key, and an author signature — by the key the hub vouched for in that publication signature, or by a trusted author
/// (per policy). Both must be on the exact digest and name the image's repository.
/// </summary>
public sealed class TrainSignatures(TrustStore trust)
{
    // Annotation keys of the hub's publication signature (Hub/Trains/TrainPublication.cs).
    public const string RoleAnnotation = "org.healthtrain.role";
    public const string AuthorAnnotation = "org.healthtrain.author";
    public const string AuthorKeyAnnotation = "org.healthtrain.author-key";
    public const string PublicationRole = "publication";

    public SignatureFindings Verify(string repository, string digest, IReadOnlyList<StoredSignature> stored)
    {
        var problems = new List<string>();
        var signers = new List<ImageSigner>();
        if (stored.Count == 0)
            return new([], ["the image is not signed: no publication signature by the hub and no author signature"]);
        if (trust.HubKeys.Count == 0)
            problems.Add("this station trusts no hub key (Station:Trust:HubKeys), so no train can be verified");

        var hub = SignatureVerifier.Verify(digest, stored, trust.HubKeys);
        var publication = hub.Checks.FirstOrDefault(c => c.IsValid && Names(c, repository)
            && c.Payload!.Annotations.GetValueOrDefault(RoleAnnotation) == PublicationRole);
        if (publication is null)
        {
            if (trust.HubKeys.Count > 0)
                problems.Add("no valid publication signature by a trusted hub key: " + Why(hub, repository));
            return new(signers, problems);
        }
        var vouchedAuthor = publication.Payload!.Annotations.GetValueOrDefault(AuthorAnnotation) ?? "";
        signers.Add(new ImageSigner(publication.KeyId!, ImageSigner.HubRole, "hub"));

        List<(string Name, VerificationKey Key)> authorKeys;
        if (trust.AuthorPolicy == AuthorPolicies.TrustedAuthors)
            authorKeys = [.. trust.Authors];
        else if (VouchedKey(publication.Payload!) is { } vouched)
            authorKeys = [(vouchedAuthor, vouched)];
        else
        {
            problems.Add("the hub's publication signature names no usable author key");
            return new(signers, problems);
        }
        var author = SignatureVerifier.Verify(digest, stored, authorKeys.Select(a => a.Key));
        var authorCheck = author.Checks.FirstOrDefault(c => c.IsValid && Names(c, repository));
        if (authorCheck is null)
        {
            problems.Add((trust.AuthorPolicy == AuthorPolicies.TrustedAuthors
                ? "no valid signature by an author this station trusts (Station:Trust:Authors): "
                : $"no valid signature by the author key the hub vouched for ({vouchedAuthor}): ") + Why(author, repository));
            return new(signers, problems);
        }
        signers.Add(new ImageSigner(authorCheck.KeyId!, ImageSigner.AuthorRole, authorKeys.First(a => a.Key.KeyId == authorCheck.KeyId).Name));
        return new(signers, problems);
    }

    /// <summary>The author key in the hub's payload: base64 SubjectPublicKeyInfo DER.</summary>
    private static VerificationKey? VouchedKey(SimpleSigningPayload payload)
    {
        if (payload.Annotations.GetValueOrDefault(AuthorKeyAnnotation) is not { } base64) return null;
        try
        {
            return VerificationKey.FromSubjectPublicKeyInfo(Convert.FromBase64String(base64));
        }
        catch (Exception e) when (e is FormatException or SigningKeyException)
        {
            return null;
        }
    }

    /// <summary>The signed docker-reference names this repository (on whatever host the hub is reached by).</summary>
    private static bool Names(SignatureCheck check, string repository)
    {
        var named = SignatureVerifier.RepositoryOf(check.Payload!.DockerReference);
        var slash = named.IndexOf('/');
        return slash >= 0 && named[(slash + 1)..] == repository;
    }

    private static string Why(SignatureVerification verification, string repository)
    {
        var reasons = verification.Checks.Select(c => c.IsValid
            ? Names(c, repository) ? "a valid signature that is not a publication" : $"a valid signature that names '{c.Payload!.DockerReference}'"
            : c.Problem!).Distinct().ToList();
        return reasons.Count == 0 ? "no signatures" : string.Join("; ", reasons);
    }
}
