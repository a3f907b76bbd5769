using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;

namespace HealthTrain.Hub.Console;

/// <summary>HTML (or SVG) that is already safe to emit: built only by <see cref="Markup.Html"/>, which encodes every value it is given.</summary>
public readonly record struct Markup(string Value)
{
    public static readonly Markup Empty = new("");

    /// <summary>
    /// Renders an interpolated string: literal parts are markup, every interpolated value is HTML-encoded unless it is
    /// itself <see cref="Markup"/> (or a sequence of them). Pages are built only this way, so no value can reach a page unencoded.
    /// </summary>
    public static Markup Html(ref HtmlHandler html) => html.ToMarkup();

    /// <summary>The markups one after another.</summary>
    public static Markup Join(IEnumerable<Markup> parts) => new(string.Concat(parts.Select(p => p.Value)));

    /// <summary>Encodes a value for an HTML text node or a quoted attribute.</summary>
    public static string Encode(string? value) => HtmlEncoder.Default.Encode(value ?? "");

    public override string ToString() => Value;
}

/// <summary>The interpolated string handler behind <see cref="Markup.Html"/>.</summary>
[InterpolatedStringHandler]
public ref struct HtmlHandler
{
    private readonly StringBuilder text;

    public HtmlHandler(int literalLength, int formattedCount) => text = new StringBuilder(literalLength + formattedCount * 16);

    public readonly void AppendLiteral(string literal) => text.Append(literal);

    public readonly void AppendFormatted(Markup markup) => text.Append(markup.Value);

    public readonly void AppendFormatted(IEnumerable<Markup> parts)
    {
        foreach (var part in parts) text.Append(part.Value);
    }

    public readonly void AppendFormatted<T>(T value) => AppendFormatted(value, null);

    public readonly void AppendFormatted<T>(T value, string? format)
    {
        // Overload resolution prefers this generic method for List<Markup> and the like, so markup is told apart here too.
        switch (value)
        {
            case Markup markup:
                text.Append(markup.Value);
                return;
            case IEnumerable<Markup> parts:
                foreach (var part in parts) text.Append(part.Value);
                return;
        }
        var plain = value switch
        {
            null => "",
            IFormattable formattable => formattable.ToString(format, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        };
        text.Append(Markup.Encode(plain));
    }

    public readonly Markup ToMarkup() => new(text.ToString());
}
