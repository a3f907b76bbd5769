using System.Security.Cryptography;

namespace HealthTrain.Trains.Protocol.Ledger;

/// <summary>
/// How ledger signatures are made and checked: ECDSA P-256 over SHA-256 with ASN.1 DER signatures (what
/// <c>openssl dgst -sha256 -verify</c> takes), keys named by the lower-case hex SHA-256 of their SubjectPublicKeyInfo DER.
/// </summary>
public static class LedgerSignatures
{
    /// <summary>The key id of a public key given as SubjectPublicKeyInfo DER.</summary>
    public static string KeyId(ReadOnlySpan<byte> publicKey) => Convert.ToHexStringLower(SHA256.HashData(publicKey));

    /// <summary>The key id of a key's public half.</summary>
    public static string KeyId(ECDsa key) => KeyId(key.ExportSubjectPublicKeyInfo());

    /// <summary>Signs <paramref name="message"/> with a P-256 key.</summary>
    public static byte[] Sign(ECDsa key, ReadOnlySpan<byte> message)
    {
        if (key.KeySize != 256) throw new ArgumentException("ledger keys are ECDSA P-256", nameof(key));
        return key.SignData(message, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }

    /// <summary>True when <paramref name="signature"/> signs <paramref name="message"/> under the P-256 key <paramref name="publicKey"/>; false for any malformed input.</summary>
    public static bool Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(publicKey, out var read);
            if (read != publicKey.Length || key.KeySize != 256) return false;
            return key.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>Reads a PEM <c>PUBLIC KEY</c> into SubjectPublicKeyInfo DER.</summary>
    public static byte[] PublicKeyFromPem(string pem)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(pem);
        return key.ExportSubjectPublicKeyInfo();
    }
}
