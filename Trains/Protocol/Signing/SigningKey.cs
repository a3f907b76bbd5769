using System.Security.Cryptography;

namespace HealthTrain.Trains.Protocol.Signing;

/// <summary>
/// An ECDSA P-256 private key that signs image payloads as cosign does (SHA-256, ASN.1 DER signature).
/// Stored as PEM: PKCS#8 <c>PRIVATE KEY</c> in a file only its owner may read (0600), or PKCS#8
/// <c>ENCRYPTED PRIVATE KEY</c> (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC) under a passphrase.
/// Both forms are plain OpenSSL formats (<c>openssl pkey -in key.pem</c> reads them).
/// </summary>
public sealed class SigningKey : IDisposable
{
    /// <summary>PBKDF2 iterations for encrypted keys (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).</summary>
    public const int Pbkdf2Iterations = 600_000;

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite; // 0600
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly ECDsa ecdsa;

    private SigningKey(ECDsa ecdsa)
    {
        try
        {
            PublicKey = VerificationKey.FromEcdsa(ecdsa);
        }
        catch
        {
            ecdsa.Dispose();
            throw;
        }
        this.ecdsa = ecdsa;
    }

    /// <summary>The matching public key, to hand to verifiers.</summary>
    public VerificationKey PublicKey { get; }

    /// <summary>The public key's id: lower-case hex SHA-256 of its SubjectPublicKeyInfo DER.</summary>
    public string KeyId => PublicKey.KeyId;

    /// <summary>A new random P-256 key.</summary>
    public static SigningKey Generate() => new(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    /// <summary>
    /// Reads a PEM private key: <c>PRIVATE KEY</c> (PKCS#8), <c>EC PRIVATE KEY</c> (SEC 1) or, with
    /// <paramref name="passphrase"/>, <c>ENCRYPTED PRIVATE KEY</c>. Throws <see cref="SigningKeyException"/> on a
    /// wrong or missing passphrase and on anything that is not an ECDSA P-256 private key.
    /// </summary>
    public static SigningKey FromPem(string pem, string? passphrase = null)
    {
        ArgumentNullException.ThrowIfNull(pem);
        if (!PemEncoding.TryFind(pem, out var fields))
            throw new SigningKeyException("no PEM block found; expected -----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY-----");
        var label = pem[fields.Label];
        var der = Convert.FromBase64String(pem[fields.Base64Data]);
        var ecdsa = ECDsa.Create();
        try
        {
            switch (label)
            {
                case "ENCRYPTED PRIVATE KEY":
                    if (passphrase is null) throw new SigningKeyException("the private key is encrypted: a passphrase is needed");
                    try
                    {
                        ecdsa.ImportEncryptedPkcs8PrivateKey(passphrase, der, out _);
                    }
                    catch (CryptographicException e)
                    {
                        throw new SigningKeyException("cannot decrypt the private key: wrong passphrase, or not an encrypted EC key", e);
                    }
                    break;
                case "PRIVATE KEY":
                    ImportOrThrow(() => ecdsa.ImportPkcs8PrivateKey(der, out _));
                    break;
                case "EC PRIVATE KEY":
                    ImportOrThrow(() => ecdsa.ImportECPrivateKey(der, out _));
                    break;
                case "ENCRYPTED COSIGN PRIVATE KEY" or "ENCRYPTED SIGSTORE PRIVATE KEY":
                    throw new SigningKeyException($"'{label}' (cosign's scrypt + secretbox format) is not supported; use a PKCS#8 key (PRIVATE KEY or ENCRYPTED PRIVATE KEY)");
                default:
                    throw new SigningKeyException($"expected a PEM private key, found '{label}'");
            }
            return new SigningKey(ecdsa);
        }
        catch
        {
            ecdsa.Dispose();
            throw;
        }

        static void ImportOrThrow(Action import)
        {
            try { import(); }
            catch (CryptographicException e) { throw new SigningKeyException("not an EC private key", e); }
        }
    }

    /// <summary>
    /// Reads a private key file. An unencrypted key must not be accessible to group or others (like ssh,
    /// this refuses a 0644 key rather than use a secret that may already have leaked).
    /// </summary>
    public static SigningKey Load(string path, string? passphrase = null)
    {
        var pem = File.ReadAllText(path);
        if (!pem.Contains("-----BEGIN ENCRYPTED PRIVATE KEY-----", StringComparison.Ordinal)
            && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
            throw new SigningKeyException($"{path} holds an unencrypted private key but is accessible to group or others (mode {Octal(File.GetUnixFileMode(path))}); run: chmod 600 {path}");
        return FromPem(pem, passphrase);
    }

    /// <summary>
    /// The private key as PEM: PKCS#8 <c>PRIVATE KEY</c>, or <c>ENCRYPTED PRIVATE KEY</c> when a passphrase is given
    /// (PBKDF2-HMAC-SHA256 with <see cref="Pbkdf2Iterations"/> iterations, AES-256-CBC).
    /// </summary>
    public string ExportPem(string? passphrase = null)
    {
        if (passphrase is null) return ecdsa.ExportPkcs8PrivateKeyPem() + "\n";
        if (passphrase.Length == 0) throw new ArgumentException("an empty passphrase protects nothing; pass null for an unencrypted key", nameof(passphrase));
        return ecdsa.ExportEncryptedPkcs8PrivateKeyPem(passphrase,
            new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, Pbkdf2Iterations)) + "\n";
    }

    /// <summary>
    /// Writes the private key (see <see cref="ExportPem"/>) to <paramref name="path"/> with mode 0600, encrypted or not.
    /// The file is created 0600 before any key byte is written and then renamed into place, so the key is never
    /// readable by others, not even briefly. An existing file is replaced only with <paramref name="overwrite"/>.
    /// </summary>
    public void Save(string path, string? passphrase = null, bool overwrite = false)
    {
        var full = Path.GetFullPath(path);
        if (!overwrite && Path.Exists(full)) throw new IOException($"{full} already exists; refusing to overwrite a key");
        var pem = ExportPem(passphrase);
        var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
                   {
                       Mode = FileMode.CreateNew,
                       Access = FileAccess.Write,
                       Share = FileShare.None,
                       UnixCreateMode = OwnerOnly,
                   }))
            {
                // The umask can only clear bits; set the mode explicitly anyway, before writing.
                File.SetUnixFileMode(stream.SafeFileHandle, OwnerOnly);
                stream.Write(System.Text.Encoding.ASCII.GetBytes(pem));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    /// <summary>Signs SHA-256 of <paramref name="data"/>; the signature is ASN.1 DER (what cosign and containers/image expect).</summary>
    public byte[] Sign(ReadOnlySpan<byte> data) =>
        ecdsa.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

    public void Dispose() => ecdsa.Dispose();

    public override string ToString() => $"ECDSA P-256 signing key {KeyId[..16]}";

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode, 8).PadLeft(4, '0');
}
