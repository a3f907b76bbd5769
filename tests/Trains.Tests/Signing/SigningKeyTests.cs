using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Trains.Tests.Signing;

/// <summary>Keys, signatures and their files; openssl (a standard tool) cross-checks the formats.</summary>
public sealed class SigningKeyTests : IDisposable
{
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly string dir = Directory.CreateTempSubdirectory("healthtrain-signing-").FullName;
    private static readonly string Digest = "sha256:" + new string('a', 64);
    private static readonly string OtherDigest = "sha256:" + new string('b', 64);

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void A_signature_verifies_with_its_key_only_and_only_for_the_exact_payload()
    {
        using var author = SigningKey.Generate();
        using var stranger = SigningKey.Generate();
        var signature = ImageSignature.Create(author, "registry.example:5000/alice/stats", Digest);

        Assert.True(signature.IsSignedBy(author.PublicKey));
        Assert.False(signature.IsSignedBy(stranger.PublicKey));

        var tampered = signature.Payload.ToArray();
        tampered[^3] ^= 1;
        Assert.False(author.PublicKey.Verify(tampered, signature.Signature));
        var truncated = signature.Signature[..^1].ToArray();
        Assert.False(author.PublicKey.Verify(signature.Payload, truncated)); // malformed DER is a failure, not an exception
    }

    [Fact]
    public void Signatures_are_ASN1_DER_over_SHA256_as_openssl_verifies_them()
    {
        using var key = SigningKey.Generate();
        var signature = ImageSignature.Create(key, "registry.example/alice/stats", Digest);
        Assert.Equal(0x30, signature.Signature[0]); // DER SEQUENCE, not IEEE P1363 r||s
        // Independent implementation: OpenSSL verifies the same bytes with the same public key PEM.
        File.WriteAllBytes(Path.Combine(dir, "payload"), signature.Payload.ToArray());
        File.WriteAllBytes(Path.Combine(dir, "sig.der"), signature.Signature.ToArray());
        key.PublicKey.Save(Path.Combine(dir, "key.pub"));
        var (code, output) = OpenSsl("dgst", "-sha256", "-verify", "key.pub", "-signature", "sig.der", "payload");
        Assert.True(code == 0, output);
        Assert.Contains("Verified OK", output);
    }

    [Fact]
    public void The_key_id_is_the_SHA256_of_the_SubjectPublicKeyInfo_DER()
    {
        using var key = SigningKey.Generate();
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(key.PublicKey.SubjectPublicKeyInfo)), key.KeyId);
        Assert.Matches("^[0-9a-f]{64}$", key.KeyId);
        key.PublicKey.Save(Path.Combine(dir, "key.pub"));
        var (code, _) = OpenSsl("pkey", "-pubin", "-in", "key.pub", "-outform", "DER", "-out", "key.der");
        Assert.Equal(0, code);
        Assert.Equal(key.KeyId, Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(dir, "key.der")))));
    }

    [Fact]
    public void The_public_key_PEM_round_trips_and_other_curves_are_refused()
    {
        using var key = SigningKey.Generate();
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----\n", key.PublicKey.Pem);
        var again = VerificationKey.FromPem(key.PublicKey.Pem);
        Assert.Equal(key.PublicKey, again);
        Assert.Equal(key.KeyId, again.KeyId);

        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        Assert.Throws<SigningKeyException>(() => VerificationKey.FromPem(p384.ExportSubjectPublicKeyInfoPem()));
        Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(p384.ExportPkcs8PrivateKeyPem()));
        using var rsa = RSA.Create(2048);
        Assert.Throws<SigningKeyException>(() => VerificationKey.FromPem(rsa.ExportSubjectPublicKeyInfoPem()));
        Assert.Throws<SigningKeyException>(() => VerificationKey.FromPem(key.ExportPem())); // a private key is not a public key
    }

    [Fact]
    public void A_saved_private_key_has_mode_0600_and_loads_back()
    {
        using var key = SigningKey.Generate();
        var path = Path.Combine(dir, "author.key");
        key.Save(path);

        Assert.Equal(Mode0600, File.GetUnixFileMode(path));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(path));
        using var loaded = SigningKey.Load(path);
        Assert.Equal(key.KeyId, loaded.KeyId);
        Assert.True(ImageSignature.Create(loaded, "r/x", Digest).IsSignedBy(key.PublicKey));
        Assert.Empty(Directory.GetFiles(dir, "*.tmp", SearchOption.AllDirectories).Concat(Directory.GetFiles(dir, ".*")));

        // No silent overwrite of an existing key; an explicit overwrite keeps 0600.
        using var other = SigningKey.Generate();
        Assert.Throws<IOException>(() => other.Save(path));
        other.Save(path, overwrite: true);
        Assert.Equal(Mode0600, File.GetUnixFileMode(path));
        using var replaced = SigningKey.Load(path);
        Assert.Equal(other.KeyId, replaced.KeyId);
    }

    [Fact]
    public void An_unencrypted_key_readable_by_others_is_refused()
    {
        using var key = SigningKey.Generate();
        var path = Path.Combine(dir, "leaky.key");
        key.Save(path);
        File.SetUnixFileMode(path, Mode0600 | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var error = Assert.Throws<SigningKeyException>(() => SigningKey.Load(path));
        Assert.Contains("chmod 600", error.Message);
        Assert.Contains("0644", error.Message);
    }

    [Fact]
    public void An_encrypted_key_round_trips_and_a_wrong_or_missing_passphrase_is_a_clear_error()
    {
        using var key = SigningKey.Generate();
        var path = Path.Combine(dir, "hub.key");
        key.Save(path, passphrase: "correct horse");

        Assert.Equal(Mode0600, File.GetUnixFileMode(path));
        var pem = File.ReadAllText(path);
        Assert.StartsWith("-----BEGIN ENCRYPTED PRIVATE KEY-----", pem);
        Assert.DoesNotContain(key.ExportPem().Split('\n')[1], pem);

        using (var loaded = SigningKey.Load(path, "correct horse"))
            Assert.Equal(key.KeyId, loaded.KeyId);
        var wrong = Assert.Throws<SigningKeyException>(() => SigningKey.Load(path, "battery staple"));
        Assert.Contains("wrong passphrase", wrong.Message);
        var missing = Assert.Throws<SigningKeyException>(() => SigningKey.Load(path));
        Assert.Contains("passphrase is needed", missing.Message);
        Assert.Throws<ArgumentException>(() => key.ExportPem(passphrase: ""));

        // Standard PKCS#8: OpenSSL decrypts it and derives the same public key.
        var (code, output) = OpenSsl("pkey", "-in", "hub.key", "-passin", "pass:correct horse", "-pubout");
        Assert.True(code == 0, output);
        Assert.Equal(key.PublicKey.Pem.Trim(), output.Trim());
        Assert.NotEqual(0, OpenSsl("pkey", "-in", "hub.key", "-passin", "pass:battery staple", "-pubout").ExitCode);
    }

    [Fact]
    public void Keys_written_by_openssl_load()
    {
        var (code, output) = OpenSsl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sec1.key");
        Assert.True(code == 0, output);
        File.SetUnixFileMode(Path.Combine(dir, "sec1.key"), Mode0600);
        using var sec1 = SigningKey.Load(Path.Combine(dir, "sec1.key")); // "EC PRIVATE KEY"
        Assert.Equal(0, OpenSsl("pkcs8", "-topk8", "-in", "sec1.key", "-passout", "pass:pw", "-out", "enc.key").ExitCode);
        using var encrypted = SigningKey.Load(Path.Combine(dir, "enc.key"), "pw");
        Assert.Equal(sec1.KeyId, encrypted.KeyId);
    }

    [Fact]
    public void A_cosign_native_encrypted_key_is_refused_with_an_explanation()
    {
        var pem = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + Convert.ToBase64String(Encoding.UTF8.GetBytes("{}")) + "\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n";
        var error = Assert.Throws<SigningKeyException>(() => SigningKey.FromPem(pem, "pw"));
        Assert.Contains("PKCS#8", error.Message);
    }

    [Fact]
    public void Verification_rejects_another_digest_another_key_a_tampered_payload_and_accepts_the_signer()
    {
        using var author = SigningKey.Generate();
        using var hub = SigningKey.Generate();
        using var stranger = SigningKey.Generate();
        var good = ImageSignature.Create(author, "127.0.0.1:5000/alice/stats", Digest);
        var byHub = ImageSignature.Create(hub, "127.0.0.1:5000/alice/stats", Digest);
        var forOtherImage = ImageSignature.Create(author, "127.0.0.1:5000/alice/stats", OtherDigest);
        var byStranger = ImageSignature.Create(stranger, "127.0.0.1:5000/alice/stats", Digest);
        var tamperedPayload = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(good.Payload).Replace("alice", "mallory"));
        var tampered = new StoredSignature(good.ToLayer() with { Digest = Cosign.Digest(tamperedPayload), Size = tamperedPayload.Length }, tamperedPayload);

        var result = SignatureVerifier.Verify(Digest,
            [Stored(good), Stored(byHub), Stored(forOtherImage), Stored(byStranger), tampered],
            [author.PublicKey, hub.PublicKey]);

        Assert.Equal([author.KeyId, hub.KeyId], result.SignedByKeyIds);
        Assert.True(result.IsSignedBy(author.PublicKey));
        Assert.False(result.IsSignedBy(stranger.PublicKey));
        Assert.True(result.Checks[0].IsValid);
        Assert.Contains("not for this image", result.Checks[2].Problem);
        Assert.Equal(author.KeyId, result.Checks[2].KeyId); // a real author signature, for another image
        Assert.Contains("any trusted key", result.Checks[3].Problem);
        Assert.Contains("any trusted key", result.Checks[4].Problem);

        // Nothing trusted: nothing signed.
        Assert.False(SignatureVerifier.Verify(Digest, [Stored(good)], [stranger.PublicKey]).IsSigned);
        // A payload blob that does not match its layer descriptor never counts.
        var swapped = new StoredSignature(good.ToLayer(), forOtherImage.Payload.ToArray());
        Assert.Contains("does not match", SignatureVerifier.Check(Digest, swapped, [author.PublicKey, hub.PublicKey]).Problem);
        // A missing or non-base64 signature annotation.
        Assert.Contains("no dev.cosignproject.cosign/signature", SignatureVerifier.Check(Digest,
            Stored(good) with { Layer = good.ToLayer() with { Annotations = null } }, [author.PublicKey]).Problem);
        Assert.Contains("not base64", SignatureVerifier.Check(Digest,
            Stored(good) with { Layer = good.ToLayer() with { Annotations = new Dictionary<string, string> { [Cosign.SignatureAnnotation] = "!!" } } }, [author.PublicKey]).Problem);
    }

    [Fact]
    public void The_identity_check_compares_repositories_ignoring_tags_and_digests()
    {
        using var author = SigningKey.Generate();
        var signature = ImageSignature.Create(author, "127.0.0.1:5000/alice/stats", Digest);
        Assert.True(SignatureVerifier.Check(Digest, Stored(signature), [author.PublicKey], "127.0.0.1:5000/alice/stats:1.0").IsValid);
        Assert.True(SignatureVerifier.Check(Digest, Stored(signature), [author.PublicKey], $"127.0.0.1:5000/alice/stats@{Digest}").IsValid);
        Assert.Contains("not the repository", SignatureVerifier.Check(Digest, Stored(signature), [author.PublicKey], "127.0.0.1:5000/bob/stats").Problem);
        Assert.Equal("127.0.0.1:5000/a/b", SignatureVerifier.RepositoryOf("127.0.0.1:5000/a/b"));
    }

    private static StoredSignature Stored(ImageSignature signature) => new(signature.ToLayer(), signature.Payload.ToArray());

    private (int ExitCode, string Output) OpenSsl(params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
