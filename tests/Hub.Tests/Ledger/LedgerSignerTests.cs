using System.Security.Cryptography;
using HealthTrain.Hub.Ledger;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

public sealed class LedgerSignerTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ht-ledger-key-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Creates_an_owner_only_p256_key_and_loads_the_same_key_again()
    {
        var path = Path.Combine(dir, "keys", "ledger.pem");
        var created = LedgerSigner.LoadOrCreate(path);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Contains("BEGIN PRIVATE KEY", File.ReadAllText(path));

        var loaded = LedgerSigner.LoadOrCreate(path);
        Assert.Equal(created.KeyId, loaded.KeyId);
        var head = loaded.SignTreeHead(3, DateTimeOffset.UtcNow, Rfc6962.LeafHash("x"u8));
        Assert.True(head.IsSignedBy(created.PublicKey));
        Assert.Equal(created.KeyId, LedgerSignatures.KeyId(LedgerSignatures.PublicKeyFromPem(created.PublicKeyPem)));
    }

    [Fact]
    public void Refuses_a_key_file_others_can_read()
    {
        var path = Path.Combine(dir, "ledger.pem");
        LedgerSigner.LoadOrCreate(path);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var e = Assert.Throws<InvalidOperationException>(() => LedgerSigner.LoadOrCreate(path));
        Assert.Contains("chmod 600", e.Message);
    }

    [Fact]
    public void Refuses_a_key_on_another_curve_and_a_file_that_is_no_key()
    {
        var p384 = Path.Combine(dir, "p384.pem");
        using (var key = ECDsa.Create(ECCurve.NamedCurves.nistP384)) File.WriteAllText(p384, key.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(p384, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Contains("P-256", Assert.Throws<InvalidOperationException>(() => LedgerSigner.LoadOrCreate(p384)).Message);

        var junk = Path.Combine(dir, "junk.pem");
        File.WriteAllText(junk, "not a key");
        File.SetUnixFileMode(junk, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Throws<InvalidOperationException>(() => LedgerSigner.LoadOrCreate(junk));
    }
}
