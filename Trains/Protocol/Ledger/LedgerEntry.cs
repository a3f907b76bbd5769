using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace HealthTrain.Trains.Protocol.Ledger;

/// <summary>Kinds of ledger events. A kind is lower-case dotted words (<c>job.executed</c>), so new kinds need no protocol change.</summary>
public static partial class LedgerKinds
{
    public const string TrainSubmitted = "train.submitted";
    public const string TrainChecked = "train.checked";
    public const string TrainPublished = "train.published";
    public const string TrainRejected = "train.rejected";
    public const string RunCreated = "run.created";
    public const string JobDispatched = "job.dispatched";
    public const string JobRefused = "job.refused";
    public const string JobExecuted = "job.executed";
    public const string ResultUploaded = "result.uploaded";
    public const string MergeCompleted = "merge.completed";
    public const string ModelVersioned = "model.versioned";
    public const string KeyAdded = "key.added";
    public const string KeyRevoked = "key.revoked";
    public const string ApprovalRecorded = "approval.recorded";

    [GeneratedRegex("^[a-z][a-z0-9-]*(?:\\.[a-z][a-z0-9-]*)+$")]
    private static partial Regex Pattern();

    public static bool IsValid(string? kind) => kind is { Length: <= 64 } && Pattern().IsMatch(kind);
}

/// <summary>Ledger timestamps: UTC with millisecond precision, always written <c>yyyy-MM-ddTHH:mm:ss.fffZ</c> so their bytes are canonical.</summary>
public static class LedgerTime
{
    private const string Format = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    /// <summary>The instant cut to whole milliseconds, in UTC: what survives a round trip through the ledger.</summary>
    public static DateTimeOffset Truncate(DateTimeOffset t) =>
        new DateTimeOffset(t.UtcTicks - t.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);

    public static string ToText(DateTimeOffset t) => Truncate(t).ToString(Format, CultureInfo.InvariantCulture);

    /// <summary>Parses exactly the form <see cref="ToText"/> writes; throws <see cref="FormatException"/> otherwise.</summary>
    public static DateTimeOffset Parse(string text) =>
        DateTimeOffset.TryParseExact(text, Format, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
            ? t
            : throw new FormatException($"'{text}' is not a ledger time (yyyy-MM-ddTHH:mm:ss.fffZ)");
}

/// <summary>
/// What an actor asserts — the part of an entry the actor signs. The hub adds only the index when it appends, so
/// an actor (a station, say) can sign before knowing where its statement will land; the position is bound by the
/// Merkle leaf, which covers the index too.
/// </summary>
/// <param name="Kind">What happened (<see cref="LedgerKinds"/>).</param>
/// <param name="Actor">The identity that did it.</param>
/// <param name="Subject">What it happened to: <c>run/12</c>, <c>job/40</c>.</param>
/// <param name="Payload">Details, a JSON object; recorded in canonical form.</param>
/// <param name="Timestamp">When the actor made the statement (kept to the millisecond).</param>
public sealed record LedgerStatement(string Kind, string Actor, string Subject, JsonObject Payload, DateTimeOffset Timestamp)
{
    /// <summary>Prefix of the signed bytes: a signature over a statement can never pass for one over a tree head.</summary>
    public const string SigningContext = "healthtrain ledger statement v1\n";

    /// <summary>The bytes the actor signs: <see cref="SigningContext"/>, then the canonical JSON of <c>{actor, kind, payload, subject, timestamp}</c>.</summary>
    public byte[] SigningBytes()
    {
        Validate();
        var json = CanonicalJson.Canonicalize(new JsonObject
        {
            ["actor"] = Actor,
            ["kind"] = Kind,
            ["payload"] = Payload.DeepClone(),
            ["subject"] = Subject,
            ["timestamp"] = LedgerTime.ToText(Timestamp),
        });
        return [.. Encoding.UTF8.GetBytes(SigningContext), .. json];
    }

    /// <summary>Signs with the actor's P-256 key.</summary>
    public SignedStatement Sign(ECDsa actorKey) =>
        new(this, LedgerSignatures.KeyId(actorKey), Convert.ToBase64String(LedgerSignatures.Sign(actorKey, SigningBytes())));

    /// <summary>Throws <see cref="ArgumentException"/> naming the first field that cannot go into the ledger.</summary>
    public void Validate()
    {
        if (!LedgerKinds.IsValid(Kind)) throw new ArgumentException($"'{Kind}' is not a ledger kind: lower-case dotted words such as job.executed", nameof(Kind));
        CheckName(Actor, nameof(Actor), 128);
        CheckName(Subject, nameof(Subject), 256);
        ArgumentNullException.ThrowIfNull(Payload);
        try
        {
            CanonicalJson.Canonicalize(Payload);
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"the payload cannot be canonicalized: {e.Message}", nameof(Payload), e);
        }
    }

    private static void CheckName(string? value, string field, int maxLength)
    {
        if (string.IsNullOrEmpty(value) || value.Length > maxLength || value.Any(char.IsControl))
            throw new ArgumentException($"{field} must be 1 to {maxLength} characters without control characters", field);
    }
}

/// <summary>A statement with its actor's signature: base64 ASN.1 DER ECDSA over <see cref="LedgerStatement.SigningBytes"/>, by the key <see cref="KeyId"/>.</summary>
public sealed record SignedStatement(LedgerStatement Statement, string KeyId, string Signature)
{
    /// <summary>True when the signature verifies with <paramref name="publicKey"/> (SubjectPublicKeyInfo DER) and that key is <see cref="KeyId"/>.</summary>
    public bool IsSignedBy(ReadOnlySpan<byte> publicKey)
    {
        if (LedgerSignatures.KeyId(publicKey) != KeyId) return false;
        byte[] signature;
        try
        {
            signature = Convert.FromBase64String(Signature);
        }
        catch (FormatException)
        {
            return false;
        }
        return LedgerSignatures.Verify(publicKey, Statement.SigningBytes(), signature);
    }
}

/// <summary>
/// One ledger entry: a signed statement at its index. Its canonical JSON (JCS, RFC 8785) is the Merkle leaf:
/// <code>{"actor":…,"index":…,"keyId":…,"kind":…,"payload":{…},"signature":…,"subject":…,"timestamp":"…Z"}</code>
/// </summary>
public sealed record LedgerEntry(long Index, DateTimeOffset Timestamp, string Kind, string Actor, string Subject, JsonObject Payload, string KeyId, string Signature)
{
    private static readonly string[] Members = ["actor", "index", "keyId", "kind", "payload", "signature", "subject", "timestamp"];

    /// <summary>The signed statement placed at <paramref name="index"/>.</summary>
    public static LedgerEntry At(long index, SignedStatement signed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        var s = signed.Statement;
        s.Validate();
        if (!IsKeyId(signed.KeyId)) throw new ArgumentException($"'{signed.KeyId}' is not a key id (64 lower-case hex digits)", nameof(signed));
        if (!IsBase64(signed.Signature)) throw new ArgumentException("the signature is not base64", nameof(signed));
        return new LedgerEntry(index, LedgerTime.Truncate(s.Timestamp), s.Kind, s.Actor, s.Subject, s.Payload, signed.KeyId, signed.Signature);
    }

    /// <summary>The statement the actor signed.</summary>
    public SignedStatement Signed => new(new LedgerStatement(Kind, Actor, Subject, Payload, Timestamp), KeyId, Signature);

    /// <summary>The canonical entry bytes: the Merkle leaf.</summary>
    public byte[] ToLeaf() => CanonicalJson.Canonicalize(new JsonObject
    {
        ["actor"] = Actor,
        ["index"] = Index,
        ["keyId"] = KeyId,
        ["kind"] = Kind,
        ["payload"] = Payload.DeepClone(),
        ["signature"] = Signature,
        ["subject"] = Subject,
        ["timestamp"] = LedgerTime.ToText(Timestamp),
    });

    /// <summary>
    /// Reads leaf bytes back. Strict: exactly the eight members with the right types, and the bytes must already be
    /// canonical — the same entry has one byte form only. Throws <see cref="FormatException"/> saying what is wrong.
    /// </summary>
    public static LedgerEntry Parse(ReadOnlySpan<byte> leaf)
    {
        LedgerEntry entry;
        try
        {
            var json = JsonNode.Parse(leaf) as JsonObject ?? throw new FormatException("the entry is not a JSON object");
            var extra = json.Select(m => m.Key).Except(Members).ToList();
            if (extra.Count > 0) throw new FormatException($"unknown member '{extra[0]}'");
            entry = new LedgerEntry(
                Member(json, "index").GetValue<long>(),
                LedgerTime.Parse(Text(json, "timestamp")),
                Text(json, "kind"), Text(json, "actor"), Text(json, "subject"),
                (Member(json, "payload") as JsonObject ?? throw new FormatException("'payload' is not an object")).DeepClone().AsObject(),
                Text(json, "keyId"), Text(json, "signature"));
            At(entry.Index, entry.Signed); // the same field rules as on append
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            throw new FormatException($"not a ledger entry: {e.Message}", e);
        }
        if (!leaf.SequenceEqual(entry.ToLeaf())) throw new FormatException("the entry is not in canonical form");
        return entry;
    }

    /// <summary>Like <see cref="Parse"/>, returning the reason instead of throwing.</summary>
    public static bool TryParse(ReadOnlySpan<byte> leaf, out LedgerEntry? entry, out string? error)
    {
        try
        {
            entry = Parse(leaf);
            error = null;
            return true;
        }
        catch (FormatException e)
        {
            entry = null;
            error = e.Message;
            return false;
        }
    }

    private static JsonNode Member(JsonObject json, string name) =>
        json[name] ?? throw new FormatException($"'{name}' is missing or null");

    private static string Text(JsonObject json, string name) =>
        Member(json, name) is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : throw new FormatException($"'{name}' is not a string");

    private static bool IsKeyId(string keyId) => keyId is { Length: 64 } && keyId.All(char.IsAsciiHexDigitLower);

    private static bool IsBase64(string text)
    {
        var buffer = new byte[text.Length];
        return text.Length > 0 && Convert.TryFromBase64String(text, buffer, out var n) && Convert.ToBase64String(buffer, 0, n) == text;
    }
}
