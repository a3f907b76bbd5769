using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

public sealed class LedgerEntryTests
{
    private static readonly ECDsa Station = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private static readonly DateTimeOffset Time = new(2025, 3, 1, 12, 30, 45, 123, TimeSpan.Zero);

    private static SignedStatement Executed() =>
        new LedgerStatement(LedgerKinds.JobExecuted, "hospital-a", "job/40", new JsonObject { ["exitCode"] = 0, ["result"] = "sha256:ab" }, Time).Sign(Station);

    [Fact]
    public void The_leaf_is_the_documented_canonical_json()
    {
        var signed = Executed();
        var leaf = Encoding.UTF8.GetString(LedgerEntry.At(7, signed).ToLeaf());
        Assert.Equal(
            "{\"actor\":\"hospital-a\",\"index\":7,\"keyId\":\"" + signed.KeyId + "\",\"kind\":\"job.executed\",\"payload\":{\"exitCode\":0,\"result\":\"sha256:ab\"},"
            + "\"signature\":\"" + signed.Signature + "\",\"subject\":\"job/40\",\"timestamp\":\"2025-03-01T12:30:45.123Z\"}",
            leaf);
    }

    [Fact]
    public void Entries_round_trip_through_their_leaf_bytes_and_keep_the_actor_signature()
    {
        var entry = LedgerEntry.At(7, Executed());
        var parsed = LedgerEntry.Parse(entry.ToLeaf());
        Assert.Equal(entry.ToLeaf(), parsed.ToLeaf());
        Assert.Equal((7L, "hospital-a", Time), (parsed.Index, parsed.Actor, parsed.Timestamp));
        Assert.True(parsed.Signed.IsSignedBy(Station.ExportSubjectPublicKeyInfo()));
    }

    [Fact]
    public void A_changed_statement_or_another_key_does_not_verify()
    {
        var signed = Executed();
        var changed = signed with { Statement = signed.Statement with { Subject = "job/41" } };
        Assert.False(changed.IsSignedBy(Station.ExportSubjectPublicKeyInfo()));
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.False(signed.IsSignedBy(other.ExportSubjectPublicKeyInfo()));
    }

    [Fact]
    public void A_statement_signature_is_no_tree_head_signature()
    {
        // Both are canonical JSON signed by possibly the same key: the context prefixes keep them apart.
        var root = Rfc6962.LeafHash("x"u8);
        var headBytes = SignedTreeHead.SigningBytes(1, Time, root);
        var statementBytes = Executed().Statement.SigningBytes();
        Assert.StartsWith(SignedTreeHead.SigningContext, Encoding.UTF8.GetString(headBytes));
        Assert.StartsWith(LedgerStatement.SigningContext, Encoding.UTF8.GetString(statementBytes));
        var signature = LedgerSignatures.Sign(Station, statementBytes);
        Assert.False(LedgerSignatures.Verify(Station.ExportSubjectPublicKeyInfo(), headBytes, signature));
    }

    [Theory]
    [InlineData(" ")]                      // whitespace
    [InlineData("reorder")]                // members out of order
    [InlineData("extra")]                  // an unknown member
    [InlineData("index")]                  // 7.0 instead of 7
    [InlineData("time")]                   // a timestamp in another form
    public void Parsing_refuses_anything_but_the_one_canonical_form(string how)
    {
        var leaf = Encoding.UTF8.GetString(LedgerEntry.At(7, Executed()).ToLeaf());
        var bad = how switch
        {
            " " => leaf.Replace(",\"kind\"", ", \"kind\""),
            "reorder" => "{\"index\":7," + leaf[1..].Replace("\"index\":7,", ""),
            "extra" => leaf[..^1] + ",\"zz\":1}",
            "index" => leaf.Replace("\"index\":7", "\"index\":7.0"),
            "time" => leaf.Replace("2025-03-01T12:30:45.123Z", "2025-03-01T12:30:45.1230Z"),
            _ => throw new ArgumentOutOfRangeException(nameof(how)),
        };
        Assert.NotEqual(leaf, bad);
        Assert.Throws<FormatException>(() => LedgerEntry.Parse(Encoding.UTF8.GetBytes(bad)));
    }

    [Theory]
    [InlineData("Job.Executed", "a", "job/1")]
    [InlineData("executed", "a", "job/1")]
    [InlineData("job.executed", "", "job/1")]
    [InlineData("job.executed", "a", "")]
    [InlineData("job.executed", "a", "job/\n1")]
    public void Statements_with_bad_fields_are_refused(string kind, string actor, string subject) =>
        Assert.Throws<ArgumentException>(() => new LedgerStatement(kind, actor, subject, [], Time).Sign(Station));

    [Fact]
    public void A_payload_with_an_integer_a_double_cannot_hold_is_refused() =>
        Assert.Throws<ArgumentException>(() =>
            new LedgerStatement(LedgerKinds.RunCreated, "alice", "run/1", new JsonObject { ["id"] = 9007199254740993L }, Time).Sign(Station));
}
