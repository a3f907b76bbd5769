using System.Text;
using System.Text.Json.Nodes;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

public sealed class CanonicalJsonTests
{
    // RFC 8785 Appendix B: IEEE-754 bit patterns and the text ECMAScript gives them.
    [Theory]
    [InlineData(0x0000000000000000UL, "0")]
    [InlineData(0x8000000000000000UL, "0")]
    [InlineData(0x0000000000000001UL, "5e-324")]
    [InlineData(0x8000000000000001UL, "-5e-324")]
    [InlineData(0x7fefffffffffffffUL, "1.7976931348623157e+308")]
    [InlineData(0xffefffffffffffffUL, "-1.7976931348623157e+308")]
    [InlineData(0x4340000000000000UL, "9007199254740992")]
    [InlineData(0xc340000000000000UL, "-9007199254740992")]
    [InlineData(0x4430000000000000UL, "295147905179352830000")]
    [InlineData(0x44b52d02c7e14af5UL, "9.999999999999997e+22")]
    [InlineData(0x44b52d02c7e14af6UL, "1e+23")]
    [InlineData(0x44b52d02c7e14af7UL, "1.0000000000000001e+23")]
    [InlineData(0x444b1ae4d6e2ef4eUL, "999999999999999700000")]
    [InlineData(0x444b1ae4d6e2ef4fUL, "999999999999999900000")]
    [InlineData(0x444b1ae4d6e2ef50UL, "1e+21")]
    [InlineData(0x3eb0c6f7a0b5ed8cUL, "9.999999999999997e-7")]
    [InlineData(0x3eb0c6f7a0b5ed8dUL, "0.000001")]
    [InlineData(0x41b3de4355555553UL, "333333333.3333332")]
    [InlineData(0x41b3de4355555554UL, "333333333.33333325")]
    [InlineData(0x41b3de4355555555UL, "333333333.3333333")]
    [InlineData(0x41b3de4355555556UL, "333333333.3333334")]
    [InlineData(0x41b3de4355555557UL, "333333333.33333343")]
    [InlineData(0xbecbf647612f3696UL, "-0.0000033333333333333333")]
    [InlineData(0x43143ff3c1cb0959UL, "1424953923781206.2")]
    public void Numbers_are_written_as_ecmascript_writes_them(ulong bits, string expected) =>
        Assert.Equal(expected, CanonicalJson.FormatNumber(BitConverter.UInt64BitsToDouble(bits)));

    [Theory]
    // RFC 8785 §3.2.4: the whole transformation.
    [InlineData("{\n  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n  \"literals\": [null, true, false]\n}",
                "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}")]
    // RFC 8785 §3.2.3: names sort by UTF-16 code units, so the emoji (D83D …) comes before U+FB33.
    [InlineData("{\"\\u20ac\":\"Euro Sign\",\"\\r\":\"Carriage Return\",\"\\ufb33\":\"Hebrew Letter Dalet With Dagesh\",\"1\":\"One\",\"\\ud83d\\ude00\":\"Emoji: Grinning Face\",\"\\u0080\":\"Control\",\"\\u00f6\":\"Latin Small Letter O With Diaeresis\"}",
                "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}")]
    [InlineData(" { \"b\" : [ {}, [], {\"z\":1,\"a\":-0} ], \"a\" : \"\" } ", "{\"a\":\"\",\"b\":[{},[],{\"a\":0,\"z\":1}]}")]
    [InlineData("\"\\u0001\\b\\f\\t\\u001f\\u007f\\u2028\"", "\"\\u0001\\b\\f\\t\\u001f\u007f\u2028\"")]
    [InlineData("[0, -1, 9007199254740992, 1.0, 100e-2, -0.0]", "[0,-1,9007199254740992,1,1,0]")]
    public void Canonicalizes_the_rfc_examples_and_the_result_is_a_fixed_point(string input, string expected)
    {
        var canonical = CanonicalJson.Canonicalize(Encoding.UTF8.GetBytes(input));
        Assert.Equal(expected, Encoding.UTF8.GetString(canonical));
        Assert.Equal(canonical, CanonicalJson.Canonicalize(canonical));
    }

    [Theory]
    [InlineData("{\"a\":1,\"a\":2}")]
    [InlineData("[1e400]")]
    [InlineData("[9007199254740993]")]
    [InlineData("[123456789012345678901]")]
    [InlineData("{\"a\":1} {\"b\":2}")]
    [InlineData("{\"a\":}")]
    [InlineData("[\"\\ud800\"]")]
    [InlineData("[1,]")]
    [InlineData("// comment\n1")]
    public void Refuses_what_is_not_i_json(string input) =>
        Assert.Throws<FormatException>(() => CanonicalJson.Canonicalize(Encoding.UTF8.GetBytes(input)));

    [Fact]
    public void Refuses_invalid_utf8() =>
        Assert.Throws<FormatException>(() => CanonicalJson.Canonicalize([(byte)'[', (byte)'"', 0xff, (byte)'"', (byte)']']));

    [Fact]
    public void Nodes_built_in_code_canonicalize_like_parsed_text()
    {
        var node = new JsonObject { ["z"] = 1.5, ["a"] = new JsonArray(1, "x", null, true), ["m"] = 40L };
        Assert.Equal("{\"a\":[1,\"x\",null,true],\"m\":40,\"z\":1.5}", Encoding.UTF8.GetString(CanonicalJson.Canonicalize(node)));
    }
}
