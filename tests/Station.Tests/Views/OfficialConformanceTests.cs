using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Station.Views;

namespace HealthTrain.Station.Tests.Views;

/// <summary>Every test of the official SQL-on-FHIR v2 suite, one case each, checked here independently of the conformance runner.</summary>
public sealed class OfficialConformanceTests
{
    public static IEnumerable<object[]> Tests() => OfficialSuite.Tests();

    [Theory]
    [MemberData(nameof(Tests))]
    public void Official_test_passes(string file, string title)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(OfficialSuite.Directory, file)));
        var resources = document.RootElement.GetProperty("resources").EnumerateArray().Select(r => r.GetRawText()).ToList();
        var test = document.RootElement.GetProperty("tests").EnumerateArray().Single(t => t.GetProperty("title").GetString() == title);

        if (test.TryGetProperty("expectError", out var expectError) && expectError.GetBoolean())
        {
            var error = Record.Exception(() => CompiledView.Compile(test.GetProperty("view")).Evaluate(resources).ToList());
            Assert.True(error is ViewDefinitionException or ViewEvaluationException,
                error is null ? "expected the view to be rejected, but it ran" : $"expected a view error, got {error}");
            return;
        }

        var view = CompiledView.Compile(test.GetProperty("view"));
        var rows = view.Evaluate(resources).Select(row => Row(view.Columns, row)).ToList();

        if (test.TryGetProperty("expectColumns", out var columns))
            Assert.Equal(columns.EnumerateArray().Select(c => c.GetString()), view.Columns.Select(c => c.Name));

        // Row order is not significant (the official runner sorts both sides); compare canonical forms sorted.
        var expected = test.GetProperty("expect").EnumerateArray().Select(e => Canonical(JsonNode.Parse(e.GetRawText()))).Order(StringComparer.Ordinal).ToList();
        var actual = rows.Select(Canonical).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, actual);
    }

    private static JsonObject Row(IReadOnlyList<ViewColumn> columns, object?[] row)
    {
        var json = new JsonObject();
        for (var i = 0; i < columns.Count; i++) json[columns[i].Name] = Node(row[i]);
        return json;
    }

    private static JsonNode? Node(object? value) => value switch
    {
        null => null,
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        long l => JsonValue.Create(l),
        decimal d => JsonValue.Create(d),
        IEnumerable<object?> list => new JsonArray(list.Select(Node).ToArray()),
        _ => throw new InvalidOperationException($"unexpected row value type {value.GetType()}"),
    };

    /// <summary>JSON text with members sorted by name and numbers in one form (5, 5.0 and 5.00 all read 5).</summary>
    private static string Canonical(JsonNode? node)
    {
        var text = new StringBuilder();
        Write(node, text);
        return text.ToString();
    }

    private static void Write(JsonNode? node, StringBuilder text)
    {
        switch (node)
        {
            case null:
                text.Append("null");
                break;
            case JsonObject obj:
                text.Append('{');
                text.AppendJoin(',', obj.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p =>
                {
                    var member = new StringBuilder(JsonSerializer.Serialize(p.Key)).Append(':');
                    Write(p.Value, member);
                    return member.ToString();
                }));
                text.Append('}');
                break;
            case JsonArray array:
                text.Append('[');
                text.AppendJoin(',', array.Select(Canonical));
                text.Append(']');
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.Number:
                var number = decimal.Parse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);
                text.Append((number / 1.0000000000000000000000000000m).ToString(CultureInfo.InvariantCulture));
                break;
            default:
                text.Append(node.ToJsonString());
                break;
        }
    }
}
