using System.Security.Cryptography;

namespace HealthTrain.Trains.Protocol.Signing;

/// <summary>The names cosign's signature storage uses (sigstore/cosign specs/SIGNATURE_SPEC.md).</summary>
public static class Cosign
{
    /// <summary>Media type of a signature layer, whose blob is the simple-signing payload.</summary>
    public const string SimpleSigningMediaType = "application/vnd.dev.cosign.simplesigning.v1+json";

    /// <summary>Layer annotation holding the base64 ASN.1 DER ECDSA signature of the layer's payload.</summary>
    public const string SignatureAnnotation = "dev.cosignproject.cosign/signature";

    /// <summary>
    /// The tag of an image's signature manifest, in the image's own repository: <c>sha256-&lt;hex&gt;.sig</c>
    /// for the manifest digest <c>sha256:&lt;hex&gt;</c>.
    /// </summary>
    public static string SignatureTag(string manifestDigest)
    {
        if (!SimpleSigningPayload.IsSha256Digest(manifestDigest))
            throw new ArgumentException($"'{manifestDigest}' is not a sha256 manifest digest", nameof(manifestDigest));
        return "sha256-" + manifestDigest["sha256:".Length..] + ".sig";
    }

    /// <summary><c>sha256:</c> and the lower-case hex SHA-256 of <paramref name="content"/>: an OCI content digest.</summary>
    public static string Digest(ReadOnlySpan<byte> content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
}

/// <summary>One signature: the payload bytes and the ASN.1 DER ECDSA signature over their SHA-256.</summary>
public sealed class ImageSignature
{
    private readonly byte[] payload;
    private readonly byte[] signature;

    public ImageSignature(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature)
    {
        this.payload = payload.ToArray();
        this.signature = signature.ToArray();
    }

    /// <summary>The exact signed bytes (the layer blob).</summary>
    public ReadOnlySpan<byte> Payload => payload;

    /// <summary>The DER signature.</summary>
    public ReadOnlySpan<byte> Signature => signature;

    /// <summary>The signature as the <see cref="Cosign.SignatureAnnotation"/> value: standard base64.</summary>
    public string SignatureBase64 => Convert.ToBase64String(signature);

    /// <summary>The payload blob's digest.</summary>
    public string PayloadDigest => Cosign.Digest(payload);

    /// <summary>Serializes <paramref name="payload"/> and signs it with <paramref name="key"/>.</summary>
    public static ImageSignature Create(SigningKey key, SimpleSigningPayload payload)
    {
        ArgumentNullException.ThrowIfNull(key);
        var bytes = (payload ?? throw new ArgumentNullException(nameof(payload))).ToBytes();
        return new ImageSignature(bytes, key.Sign(bytes));
    }

    /// <summary>Signs the manifest digest <paramref name="manifestDigest"/> of the image named <paramref name="dockerReference"/> (<c>HOST/REPO</c>).</summary>
    public static ImageSignature Create(SigningKey key, string dockerReference, string manifestDigest, string? creator = null, DateTimeOffset? timestamp = null) =>
        Create(key, new SimpleSigningPayload(dockerReference, manifestDigest) { Creator = creator, Timestamp = timestamp?.ToUnixTimeSeconds() });

    /// <summary>True when the cryptographic signature over the payload verifies with <paramref name="key"/> (nothing else is checked).</summary>
    public bool IsSignedBy(VerificationKey key) => key.Verify(payload, signature);

    /// <summary>The signature's layer descriptor in a <c>.sig</c> manifest: payload digest and size, the signature annotation.</summary>
    public OciDescriptor ToLayer() => new(Cosign.SimpleSigningMediaType, PayloadDigest, payload.Length,
        new Dictionary<string, string> { [Cosign.SignatureAnnotation] = SignatureBase64 });
}
