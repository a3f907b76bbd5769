using System.Security.Cryptography;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Ledger;

/// <summary>
/// The hub's ledger key: signs tree heads, and the statements the hub records itself. ECDSA P-256 over SHA-256 with
/// DER signatures (<see cref="LedgerSignatures"/>). Abstract so the key can later live in an HSM or KMS.
/// </summary>
public abstract class LedgerSigner
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private string? keyId;

    /// <summary>The public key, SubjectPublicKeyInfo DER.</summary>
    public abstract byte[] PublicKey { get; }

    /// <summary>Lower-case hex SHA-256 of <see cref="PublicKey"/>.</summary>
    public string KeyId => keyId ??= LedgerSignatures.KeyId(PublicKey);

    /// <summary>The public key as PEM, for clients to pin.</summary>
    public string PublicKeyPem => PemEncoding.WriteString("PUBLIC KEY", PublicKey) + "\n";

    /// <summary>An ASN.1 DER ECDSA P-256 signature over SHA-256 of <paramref name="message"/>.</summary>
    public abstract byte[] Sign(ReadOnlySpan<byte> message);

    public SignedTreeHead SignTreeHead(long treeSize, DateTimeOffset timestamp, byte[] rootHash)
    {
        timestamp = LedgerTime.Truncate(timestamp);
        return new SignedTreeHead(treeSize, timestamp, rootHash, KeyId, Sign(SignedTreeHead.SigningBytes(treeSize, timestamp, rootHash)));
    }

    /// <summary>Signs a statement the hub makes itself (or, until identities hold keys, vouches for on a caller's behalf).</summary>
    public SignedStatement SignStatement(LedgerStatement statement) =>
        new(statement, KeyId, Convert.ToBase64String(Sign(statement.SigningBytes())));

    /// <summary>A signer over an existing P-256 key (tests, or a key loaded elsewhere). The signer owns the key.</summary>
    public static LedgerSigner FromKey(ECDsa key) => new EcdsaSigner(key);

    /// <summary>
    /// Loads the PEM (PKCS#8 <c>PRIVATE KEY</c>) at <paramref name="path"/>, or creates a new P-256 key there with mode 0600.
    /// Refuses a key file that group or others may access, as ssh does: a leaked ledger key lets anyone sign a forged history.
    /// </summary>
    public static LedgerSigner LoadOrCreate(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            try
            {
                // CreateNew with the mode set at creation: the key is never readable by others, not even for a moment.
                using (var file = new FileStream(full, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = OwnerOnly }))
                using (var writer = new StreamWriter(file))
                    writer.Write(key.ExportPkcs8PrivateKeyPem());
                return new EcdsaSigner(key);
            }
            catch (IOException) when (File.Exists(full))
            {
                key.Dispose(); // another process created it first: use theirs
            }
        }
        var mode = File.GetUnixFileMode(full);
        if ((mode & GroupOrOther) != 0)
            throw new InvalidOperationException($"the ledger key {full} is accessible by group or others (mode {Convert.ToString((int)mode, 8)}); chmod 600 it");
        var loaded = ECDsa.Create();
        try
        {
            loaded.ImportFromPem(File.ReadAllText(full));
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            loaded.Dispose();
            throw new InvalidOperationException($"the ledger key {full} is not a PEM ECDSA private key: {e.Message}", e);
        }
        if (loaded.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            loaded.Dispose();
            throw new InvalidOperationException($"the ledger key {full} is not on curve P-256");
        }
        return new EcdsaSigner(loaded);
    }

    private sealed class EcdsaSigner : LedgerSigner
    {
        private readonly ECDsa key;
        private readonly byte[] publicKey;

        public EcdsaSigner(ECDsa key)
        {
            if (key.KeySize != 256) throw new ArgumentException("the ledger key must be ECDSA P-256", nameof(key));
            this.key = key;
            publicKey = key.ExportSubjectPublicKeyInfo();
        }

        public override byte[] PublicKey => (byte[])publicKey.Clone();

        public override byte[] Sign(ReadOnlySpan<byte> message) => LedgerSignatures.Sign(key, message);
    }
}
