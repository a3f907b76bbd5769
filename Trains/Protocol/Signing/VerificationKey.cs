using System.Security.Cryptography;

namespace HealthTrain.Trains.Protocol.Signing;

/// <summary>
/// An ECDSA P-256 public key, as cosign and containers/image (policy.json <c>sigstoreSigned</c> <c>keyPath</c>)
/// read it: a PEM <c>PUBLIC KEY</c> (X.509 SubjectPublicKeyInfo). Immutable; equal when the keys are equal.
/// </summary>
public sealed class VerificationKey : IEquatable<VerificationKey>
{
    private const string PemLabel = "PUBLIC KEY";
    private readonly byte[] subjectPublicKeyInfo;

    private VerificationKey(byte[] subjectPublicKeyInfo)
    {
        this.subjectPublicKeyInfo = subjectPublicKeyInfo;
        KeyId = Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));
        Pem = PemEncoding.WriteString(PemLabel, subjectPublicKeyInfo) + "\n";
    }

    /// <summary>Lower-case hex SHA-256 of the SubjectPublicKeyInfo DER: names the key in reports and trust lists.</summary>
    public string KeyId { get; }

    /// <summary>The key as PEM (<c>-----BEGIN PUBLIC KEY-----</c>), newline-terminated: the file policy.json's keyPath names.</summary>
    public string Pem { get; }

    /// <summary>The SubjectPublicKeyInfo DER.</summary>
    public ReadOnlySpan<byte> SubjectPublicKeyInfo => subjectPublicKeyInfo;

    /// <summary>Reads a PEM <c>PUBLIC KEY</c>; throws <see cref="SigningKeyException"/> for anything but an ECDSA P-256 key.</summary>
    public static VerificationKey FromPem(string pem)
    {
        ArgumentNullException.ThrowIfNull(pem);
        if (!PemEncoding.TryFind(pem, out var fields))
            throw new SigningKeyException("no PEM block found; expected -----BEGIN PUBLIC KEY-----");
        var label = pem[fields.Label];
        if (label != PemLabel)
            throw new SigningKeyException($"expected a PEM 'PUBLIC KEY', found '{label}'");
        return FromSubjectPublicKeyInfo(Convert.FromBase64String(pem[fields.Base64Data]));
    }

    /// <summary>Reads a SubjectPublicKeyInfo DER; throws <see cref="SigningKeyException"/> for anything but an ECDSA P-256 key.</summary>
    public static VerificationKey FromSubjectPublicKeyInfo(ReadOnlySpan<byte> der)
    {
        using var ecdsa = ECDsa.Create();
        try
        {
            ecdsa.ImportSubjectPublicKeyInfo(der, out var read);
            if (read != der.Length) throw new SigningKeyException("trailing data after the SubjectPublicKeyInfo");
        }
        catch (CryptographicException e)
        {
            throw new SigningKeyException("not an ECDSA public key (SubjectPublicKeyInfo)", e);
        }
        return FromEcdsa(ecdsa);
    }

    /// <summary>Reads a PEM public key file.</summary>
    public static VerificationKey Load(string path) => FromPem(File.ReadAllText(path));

    /// <summary>Writes <see cref="Pem"/> to <paramref name="path"/> (public, so mode 0644).</summary>
    public void Save(string path) => File.WriteAllText(path, Pem);

    /// <summary>True when <paramref name="signature"/> (ASN.1 DER ECDSA, as cosign writes it) signs SHA-256 of <paramref name="data"/> under this key.</summary>
    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        using var ecdsa = ECDsa.Create();
        ecdsa.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
        try
        {
            return ecdsa.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false; // malformed DER
        }
    }

    internal static VerificationKey FromEcdsa(ECDsa ecdsa)
    {
        RequireP256(ecdsa);
        return new VerificationKey(ecdsa.ExportSubjectPublicKeyInfo());
    }

    internal static void RequireP256(ECDsa ecdsa)
    {
        var curve = ecdsa.ExportParameters(includePrivateParameters: false).Curve;
        if (!curve.IsNamed || curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            throw new SigningKeyException($"only ECDSA P-256 keys are supported (cosign's default); this key is on {curve.Oid.FriendlyName ?? curve.Oid.Value ?? "an explicit curve"}");
    }

    public bool Equals(VerificationKey? other) => other is not null && KeyId == other.KeyId;
    public override bool Equals(object? obj) => obj is VerificationKey other && Equals(other);
    public override int GetHashCode() => KeyId.GetHashCode(StringComparison.Ordinal);
    public override string ToString() => $"ECDSA P-256 key {KeyId[..16]}";
}
