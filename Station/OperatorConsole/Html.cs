using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;

namespace HealthTrain.Station.OperatorConsole;

/// <summary>
/// A piece of HTML. Built with <see cref="Of"/> from an interpolated string in which every value is HTML-encoded unless
/// it is itself <see cref="Html"/>: the console never pastes a train's, job's or operator's text into a page unencoded.
/// </summary>
public readonly record struct Html(string Value)
{
    public static readonly Html Empty = new("");

    public static Html Of(ref HtmlHandler html) => new(html.ToStringAndClear());

    public static Html Join(IEnumerable<Html> parts) => new(string.Concat(parts.Select(p => p.Value)));

    public override string ToString() => Value;
}

/// <summary>Builds <see cref="Html"/> from an interpolated string, encoding every value that is not already HTML.</summary>
[InterpolatedStringHandler]
public ref struct HtmlHandler
{
    private readonly StringBuilder _builder;

    public HtmlHandler(int literalLength, int formattedCount) => _builder = new StringBuilder(literalLength + formattedCount * 16);

    public readonly void AppendLiteral(string literal) => _builder.Append(literal);

    public readonly void AppendFormatted(Html html) => _builder.Append(html.Value);

    public readonly void AppendFormatted<T>(T value) => _builder.Append(HtmlEncoder.Default.Encode(Convert.ToString(value, CultureInfo.InvariantCulture) ?? ""));

    public readonly void AppendFormatted<T>(T value, string format) where T : IFormattable =>
        _builder.Append(HtmlEncoder.Default.Encode(value.ToString(format, CultureInfo.InvariantCulture)));

    public readonly string ToStringAndClear()
    {
        var text = _builder.ToString();
        _builder.Clear();
        return text;
    }
}
