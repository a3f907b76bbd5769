namespace HealthTrain.Trains.Protocol.Signing;

/// <summary>A signature layer as read from a registry: its descriptor and its payload blob (null when it could not be fetched).</summary>
public sealed record StoredSignature(OciDescriptor Layer, byte[]? Payload);

/// <summary>The outcome for one stored signature layer.</summary>
/// <param name="LayerDigest">The layer (payload blob) digest.</param>
/// <param name="KeyId">Id of the trusted key whose signature over the payload verified; null if none did.</param>
/// <param name="Payload">The parsed payload, when the signature verified and the payload parsed.</param>
/// <param name="Problem">Why the signature does not count, or null when it is valid for the image.</param>
public sealed record SignatureCheck(string LayerDigest, string? KeyId, SimpleSigningPayload? Payload, string? Problem)
{
    /// <summary>Signed by a trusted key, for this image digest (and identity, if one was required).</summary>
    public bool IsValid => Problem is null && KeyId is not null;
}

/// <summary>Every signature layer of an image checked against a set of trusted keys.</summary>
public sealed record SignatureVerification(string ImageDigest, IReadOnlyList<SignatureCheck> Checks)
{
    /// <summary>Distinct ids of the trusted keys with at least one valid signature, in order of first appearance.</summary>
    public IReadOnlyList<string> SignedByKeyIds { get; } = Checks.Where(c => c.IsValid).Select(c => c.KeyId!).Distinct().ToList();

    /// <summary>True when at least one trusted key validly signed the image.</summary>
    public bool IsSigned => SignedByKeyIds.Count > 0;

    /// <summary>True when <paramref name="key"/> validly signed the image.</summary>
    public bool IsSignedBy(VerificationKey key) => SignedByKeyIds.Contains(key.KeyId);
}

/// <summary>
/// Decides, as containers/image's <c>sigstoreSigned</c> requirement does, whether stored signatures are valid for an
/// image: the payload blob matches its descriptor, the DER signature over it verifies with a trusted key,
/// the payload is a cosign simple-signing payload naming this manifest digest, and (optionally) its
/// docker-reference names the expected repository (<c>matchRepository</c>).
/// </summary>
public static class SignatureVerifier
{
    /// <summary>Largest payload accepted (containers/image allows 4 MiB; a simple-signing payload is a few hundred bytes).</summary>
    public const int MaxPayloadBytes = 1024 * 1024;

    /// <summary>Checks every signature layer.</summary>
    /// <param name="imageDigest">The manifest digest the signatures must name.</param>
    /// <param name="signatures">The stored layers with their payloads.</param>
    /// <param name="trustedKeys">Keys whose signatures count.</param>
    /// <param name="expectedRepository">When given (<c>HOST[:PORT]/REPO</c>), the payload's docker-reference must name this repository (any tag or none).</param>
    public static SignatureVerification Verify(string imageDigest, IEnumerable<StoredSignature> signatures, IEnumerable<VerificationKey> trustedKeys, string? expectedRepository = null)
    {
        if (!SimpleSigningPayload.IsSha256Digest(imageDigest)) throw new ArgumentException($"'{imageDigest}' is not a sha256 manifest digest", nameof(imageDigest));
        var keys = trustedKeys.Distinct().ToList();
        return new SignatureVerification(imageDigest, signatures.Select(s => Check(imageDigest, s, keys, expectedRepository)).ToList());
    }

    /// <summary>Checks one signature layer.</summary>
    public static SignatureCheck Check(string imageDigest, StoredSignature stored, IReadOnlyCollection<VerificationKey> trustedKeys, string? expectedRepository = null)
    {
        var layer = stored.Layer;
        SignatureCheck Fail(string problem, string? keyId = null, SimpleSigningPayload? payload = null) => new(layer.Digest, keyId, payload, problem);

        if (layer.MediaType != Cosign.SimpleSigningMediaType) return Fail($"layer media type is {layer.MediaType}, not {Cosign.SimpleSigningMediaType}");
        if (stored.Payload is not { } bytes) return Fail("the payload blob could not be read");
        if (bytes.Length > MaxPayloadBytes) return Fail($"the payload is larger than {MaxPayloadBytes} bytes");
        if (Cosign.Digest(bytes) != layer.Digest || bytes.Length != layer.Size) return Fail("the payload blob does not match the layer's digest and size");
        if (layer.Annotation(Cosign.SignatureAnnotation) is not { } base64) return Fail($"the layer has no {Cosign.SignatureAnnotation} annotation");
        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            return Fail("the signature annotation is not base64");
        }

        var key = trustedKeys.FirstOrDefault(k => k.Verify(bytes, signature));
        if (key is null) return Fail("the signature does not verify with any trusted key");

        // Only a payload whose signature verified is parsed (containers/image does the same).
        SimpleSigningPayload payload;
        try
        {
            payload = SimpleSigningPayload.Parse(bytes);
        }
        catch (FormatException e)
        {
            return Fail($"the signed payload is not a cosign simple-signing payload: {e.Message}", key.KeyId);
        }
        if (payload.ManifestDigest != imageDigest)
            return Fail($"the signature is for {payload.ManifestDigest}, not for this image ({imageDigest})", key.KeyId, payload);
        if (expectedRepository is not null && RepositoryOf(payload.DockerReference) != RepositoryOf(expectedRepository))
            return Fail($"the signature names '{payload.DockerReference}', not the repository '{expectedRepository}'", key.KeyId, payload);
        return new SignatureCheck(layer.Digest, key.KeyId, payload, null);
    }

    /// <summary><c>HOST/REPO</c> of a reference without its <c>:tag</c> or <c>@digest</c> (a port's ':' is kept).</summary>
    public static string RepositoryOf(string reference)
    {
        var at = reference.IndexOf('@');
        if (at >= 0) reference = reference[..at];
        var colon = reference.LastIndexOf(':');
        return colon > reference.LastIndexOf('/') ? reference[..colon] : reference;
    }
}
