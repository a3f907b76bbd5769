using System.Text;
using System.Text.Json;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Trains.Tests.Signing;

/// <summary>The simple-signing payload and the OCI signature manifest, byte for byte where cosign's format is fixed.</summary>
public sealed class PayloadAndManifestTests
{
    private static readonly string Digest = "sha256:" + new string('a', 64);

    [Fact]
    public void The_payload_is_cosigns_compact_JSON_with_optional_null_when_empty()
    {
        var bytes = new SimpleSigningPayload("127.0.0.1:5000/alice/stats", Digest).ToBytes();
        Assert.Equal(
            "{\"critical\":{\"identity\":{\"docker-reference\":\"127.0.0.1:5000/alice/stats\"},\"image\":{\"docker-manifest-digest\":\"" + Digest +
            "\"},\"type\":\"cosign container image signature\"},\"optional\":null}",
            Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void Optional_members_are_sorted_and_the_payload_round_trips()
    {
        var payload = new SimpleSigningPayload("hub.example/alice/stats", Digest)
        {
            Creator = "healthtrain",
            Timestamp = 1_700_000_000,
            Annotations = new Dictionary<string, string> { ["role"] = "author", ["a+b"] = "<x>" },
        };
        var text = Encoding.UTF8.GetString(payload.ToBytes());
        Assert.EndsWith("\"optional\":{\"a+b\":\"<x>\",\"creator\":\"healthtrain\",\"role\":\"author\",\"timestamp\":1700000000}}", text);

        var parsed = SimpleSigningPayload.Parse(payload.ToBytes());
        Assert.Equal(payload.DockerReference, parsed.DockerReference);
        Assert.Equal(payload.ManifestDigest, parsed.ManifestDigest);
        Assert.Equal("healthtrain", parsed.Creator);
        Assert.Equal(1_700_000_000, parsed.Timestamp);
        Assert.Equal("author", parsed.Annotations["role"]);
        Assert.Throws<ArgumentException>(() => (payload with { Annotations = new Dictionary<string, string> { ["creator"] = "x" } }).ToBytes());
        Assert.Throws<ArgumentException>(() => new SimpleSigningPayload("r/x", "sha256:ABC").ToBytes());
    }

    [Theory]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"DIGEST"},"type":"atomic container signature"},"optional":null}""", "critical.type")]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"DIGEST"},"type":"cosign container image signature","extra":1},"optional":null}""", "unexpected member 'extra'")]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/x"},"image":{"Docker-manifest-digest":"DIGEST"},"type":"cosign container image signature"},"optional":null}""", "unexpected member")]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"},"optional":null}""", "64 lower-case hex")]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"DIGEST"},"type":"cosign container image signature"}}""", "lacks the member 'optional'")]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"DIGEST"},"type":"cosign container image signature"},"optional":{"timestamp":1.5}}""", "timestamp")]
    [InlineData("""{"critical":{"identity":{"docker-reference":"r/x"},"identity":{"docker-reference":"r/y"},"image":{"docker-manifest-digest":"DIGEST"},"type":"cosign container image signature"},"optional":null}""", "twice")]
    [InlineData("""not json""", "not JSON")]
    public void Parsing_is_as_strict_as_containers_image(string json, string expected)
    {
        var error = Assert.Throws<FormatException>(() => SimpleSigningPayload.Parse(Encoding.UTF8.GetBytes(json.Replace("DIGEST", Digest))));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void The_signature_tag_follows_cosigns_naming()
    {
        Assert.Equal("sha256-" + new string('a', 64) + ".sig", Cosign.SignatureTag(Digest));
        Assert.Throws<ArgumentException>(() => Cosign.SignatureTag("latest"));
    }

    [Fact]
    public void The_manifest_has_one_simple_signing_layer_per_signature_and_a_matching_config()
    {
        using var author = SigningKey.Generate();
        using var hub = SigningKey.Generate();
        var first = ImageSignature.Create(author, "r.example/alice/stats", Digest);
        var second = ImageSignature.Create(hub, "r.example/alice/stats", Digest);

        var manifest = SignatureManifest.Empty.Append(first).Append(second);
        Assert.Same(manifest, manifest.Append(first)); // present already: nothing changes

        using var json = JsonDocument.Parse(manifest.Bytes.ToArray());
        var root = json.RootElement;
        Assert.Equal(2, root.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("application/vnd.oci.image.manifest.v1+json", root.GetProperty("mediaType").GetString());
        Assert.Equal("application/vnd.oci.image.config.v1+json", root.GetProperty("config").GetProperty("mediaType").GetString());
        Assert.Equal(Cosign.Digest(manifest.ConfigBytes), root.GetProperty("config").GetProperty("digest").GetString());
        Assert.Equal(manifest.ConfigBytes.Length, root.GetProperty("config").GetProperty("size").GetInt64());
        var layers = root.GetProperty("layers").EnumerateArray().ToList();
        Assert.Equal(2, layers.Count);
        Assert.All(layers, l => Assert.Equal("application/vnd.dev.cosign.simplesigning.v1+json", l.GetProperty("mediaType").GetString()));
        Assert.Equal(first.PayloadDigest, layers[0].GetProperty("digest").GetString());
        Assert.Equal(first.Payload.Length, layers[0].GetProperty("size").GetInt64());
        Assert.Equal(first.SignatureBase64, layers[0].GetProperty("annotations").GetProperty("dev.cosignproject.cosign/signature").GetString());
        Assert.Equal(second.SignatureBase64, layers[1].GetProperty("annotations").GetProperty("dev.cosignproject.cosign/signature").GetString());
        Assert.Equal(Cosign.Digest(manifest.Bytes), manifest.Digest);

        Assert.Equal(
            "{\"architecture\":\"\",\"created\":\"0001-01-01T00:00:00Z\",\"history\":[{\"created\":\"0001-01-01T00:00:00Z\"},{\"created\":\"0001-01-01T00:00:00Z\"}]," +
            $"\"os\":\"\",\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{first.PayloadDigest}\",\"{second.PayloadDigest}\"]}},\"config\":{{}}}}",
            Encoding.UTF8.GetString(manifest.ConfigBytes));
    }

    [Fact]
    public void Appending_to_a_parsed_manifest_keeps_foreign_layers_and_annotations()
    {
        // A layer as cosign keyless signing writes it: certificate and bundle annotations beside the signature.
        var cosignManifest = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111"},
             "layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":250,
               "digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222",
               "annotations":{"dev.cosignproject.cosign/signature":"MEUC","dev.sigstore.cosign/certificate":"-----BEGIN CERTIFICATE-----\n…","dev.sigstore.cosign/bundle":"{}"}}]}
            """;
        var parsed = SignatureManifest.Parse(Encoding.UTF8.GetBytes(cosignManifest));
        using var key = SigningKey.Generate();
        var ours = ImageSignature.Create(key, "r/x", Digest);
        var merged = SignatureManifest.Parse(parsed.Append(ours).Bytes);

        Assert.Equal(2, merged.Layers.Count);
        Assert.Equal("{}", merged.Layers[0].Annotation("dev.sigstore.cosign/bundle"));
        Assert.Equal("MEUC", merged.Layers[0].Annotation(Cosign.SignatureAnnotation));
        Assert.True(merged.Layers[1].SameAs(ours.ToLayer()));

        Assert.Throws<FormatException>(() => SignatureManifest.Parse("""{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"""u8));
        Assert.Throws<FormatException>(() => SignatureManifest.Parse("[]"u8));
    }
}
