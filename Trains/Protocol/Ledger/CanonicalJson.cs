using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace HealthTrain.Trains.Protocol.Ledger;

/// <summary>
/// The RFC 8785 JSON Canonicalization Scheme (JCS): one byte form per JSON value, so the ledger can hash and sign JSON.
/// <list type="bullet">
/// <item>no whitespace; object members sorted by the UTF-16 code units of their names (ordinal string order);</item>
/// <item>strings: only <c>"</c>, <c>\</c> and U+0000–U+001F are escaped — as <c>\b \t \n \f \r</c>, else <c>\u00xx</c> in
/// lower-case hex — and every other character is written as UTF-8;</item>
/// <item>numbers: the IEEE-754 double, written the way ECMAScript's Number.prototype.toString writes it (shortest
/// round-trip digits; exponent form below 1e-6 and from 1e21); -0 is 0;</item>
/// <item><c>true</c>, <c>false</c>, <c>null</c> as they are.</item>
/// </list>
/// The input must be I-JSON (RFC 7493): duplicate member names, lone surrogates and numbers beyond a double are
/// refused. So is an integer a double cannot hold exactly (2^53 + 1, say): JCS would silently round it, and a
/// ledger must not record a different number from the one it was given. Send such values as strings.
/// Errors are <see cref="FormatException"/>s saying what is wrong.
/// </summary>
public static class CanonicalJson
{
    /// <summary>Parses UTF-8 JSON text and returns its canonical form.</summary>
    public static byte[] Canonicalize(ReadOnlySpan<byte> utf8Json)
    {
        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            document = JsonDocument.ParseValue(ref reader);
            if (reader.BytesConsumed != utf8Json.Length && !IsWhitespace(utf8Json[(int)reader.BytesConsumed..]))
                throw new FormatException("trailing data after the JSON value");
        }
        catch (JsonException e)
        {
            throw new FormatException($"not JSON: {e.Message}", e);
        }
        using (document) return Canonicalize(document.RootElement);
    }

    /// <summary>The canonical form of a parsed JSON value.</summary>
    public static byte[] Canonicalize(JsonElement value)
    {
        var text = new StringBuilder();
        Write(text, value);
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>The canonical form of a JSON node (null is JSON <c>null</c>).</summary>
    public static byte[] Canonicalize(JsonNode? value)
    {
        // Going through text handles every JsonValue flavour (parsed, or wrapping a CLR value) the same way.
        var utf8 = value is null ? "null"u8.ToArray() : JsonSerializer.SerializeToUtf8Bytes(value);
        return Canonicalize(utf8);
    }

    /// <summary>A finite double as ECMAScript's Number.prototype.toString writes it (RFC 8785 §3.2.2.3).</summary>
    public static string FormatNumber(double value)
    {
        if (!double.IsFinite(value)) throw new FormatException("JSON has no NaN or Infinity");
        if (value == 0) return "0";

        // .NET's "R" gives the shortest digits that round-trip, like ECMAScript; only the layout differs.
        var r = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = r[0] == '-';
        if (negative) r = r[1..];
        var e = r.IndexOf('E');
        var mantissa = e < 0 ? r : r[..e];
        var exponent = e < 0 ? 0 : int.Parse(r[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var point = mantissa.IndexOf('.');
        var digits = point < 0 ? mantissa : mantissa.Remove(point, 1);
        // value = 0.digits × 10^n, which is ECMAScript's s × 10^(n−k) with s the k digits.
        var n = (point < 0 ? mantissa.Length : point) + exponent;
        var trimmed = digits.TrimStart('0');
        n -= digits.Length - trimmed.Length;
        digits = trimmed.TrimEnd('0');
        var k = digits.Length;

        string text;
        if (k <= n && n <= 21) text = digits + new string('0', n - k);
        else if (0 < n && n <= 21) text = digits[..n] + "." + digits[n..];
        else if (-6 < n && n <= 0) text = "0." + new string('0', -n) + digits;
        else
        {
            var power = n - 1;
            text = (k == 1 ? digits : digits[..1] + "." + digits[1..]) + "e" + (power < 0 ? "-" : "+")
                + Math.Abs(power).ToString(CultureInfo.InvariantCulture);
        }
        return negative ? "-" + text : text;
    }

    private static void Write(StringBuilder text, JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                var members = new List<(string Name, JsonElement Value)>();
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var member in value.EnumerateObject())
                {
                    var name = Unescaped(() => member.Name);
                    if (!names.Add(name)) throw new FormatException($"duplicate member name '{name}'");
                    members.Add((name, member.Value));
                }
                members.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
                text.Append('{');
                for (var i = 0; i < members.Count; i++)
                {
                    if (i > 0) text.Append(',');
                    WriteString(text, members[i].Name);
                    text.Append(':');
                    Write(text, members[i].Value);
                }
                text.Append('}');
                break;
            case JsonValueKind.Array:
                text.Append('[');
                var first = true;
                foreach (var item in value.EnumerateArray())
                {
                    if (!first) text.Append(',');
                    first = false;
                    Write(text, item);
                }
                text.Append(']');
                break;
            case JsonValueKind.String:
                WriteString(text, Unescaped(() => value.GetString()!));
                break;
            case JsonValueKind.Number:
                text.Append(FormatNumber(ReadNumber(value)));
                break;
            case JsonValueKind.True:
                text.Append("true");
                break;
            case JsonValueKind.False:
                text.Append("false");
                break;
            case JsonValueKind.Null:
                text.Append("null");
                break;
            default:
                throw new FormatException($"unexpected JSON value kind {value.ValueKind}");
        }
    }

    private static double ReadNumber(JsonElement value)
    {
        var raw = value.GetRawText();
        if (!value.TryGetDouble(out var number) || !double.IsFinite(number))
            throw new FormatException($"the number {raw} is beyond the range of an IEEE-754 double");
        if (raw.AsSpan().IndexOfAny('.', 'e', 'E') < 0
            && BigInteger.Parse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture) != new BigInteger(number))
            throw new FormatException($"the integer {raw} cannot be held exactly by an IEEE-754 double; send it as a string");
        return number;
    }

    private static void WriteString(StringBuilder text, string value)
    {
        text.Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                text.Append(c).Append(value[++i]);
                continue;
            }
            if (char.IsSurrogate(c)) throw new FormatException($"a string holds a lone surrogate U+{(int)c:X4}");
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\b': text.Append("\\b"); break;
                case '\t': text.Append("\\t"); break;
                case '\n': text.Append("\\n"); break;
                case '\f': text.Append("\\f"); break;
                case '\r': text.Append("\\r"); break;
                case < ' ': text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: text.Append(c); break;
            }
        }
        text.Append('"');
    }

    // System.Text.Json refuses to unescape invalid UTF-16 (a lone "\ud800") with an InvalidOperationException.
    private static string Unescaped(Func<string> read)
    {
        try
        {
            return read();
        }
        catch (InvalidOperationException e)
        {
            throw new FormatException($"a string is not valid Unicode: {e.Message}", e);
        }
    }

    private static bool IsWhitespace(ReadOnlySpan<byte> rest)
    {
        foreach (var b in rest)
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')) return false;
        return true;
    }
}
