using System.Globalization;
using System.Text.RegularExpressions;

namespace HealthTrain.Station.Mapping;

/// <summary>
/// Conversions from source text to FHIR R4 primitive values. Each returns the FHIR JSON text of the value (for
/// numbers and booleans the raw JSON token) or throws <see cref="FormatException"/> with a message fit for a
/// quarantine reason.
/// </summary>
public static partial class ValueTransforms
{
    // yyyy, yyyy-MM, yyyy-MM-dd, or a date and time: T or space, hh:mm[:ss[.fff…]], optional Z or ±hh[:]mm.
    [GeneratedRegex(@"^(?<y>\d{4})(-(?<mo>\d{2})(-(?<d>\d{2})([T ](?<h>\d{2}):(?<mi>\d{2})(:(?<s>\d{2})(\.(?<f>\d{1,9}))?)?(?<z>Z|[+-]\d{2}:?\d{2})?)?)?)?$", RegexOptions.CultureInvariant)]
    private static partial Regex DateTimePattern();

    /// <summary>A FHIR <c>date</c> (<c>yyyy</c>, <c>yyyy-MM</c> or <c>yyyy-MM-dd</c>); a date-time source keeps its date as written.</summary>
    public static string ToDate(string text)
    {
        var parts = ParseDateTime(text, "date");
        return parts.DatePart;
    }

    /// <summary>
    /// A FHIR <c>dateTime</c>. Partial dates stay partial. A time needs a zone: the source's own, else
    /// <paramref name="naiveTimeZone"/>; with <paramref name="dateOnlyAtMidnight"/> a zone-less 00:00:00 becomes a date.
    /// </summary>
    public static string ToDateTime(string text, string? naiveTimeZone = null, bool dateOnlyAtMidnight = false)
    {
        var parts = ParseDateTime(text, "dateTime");
        if (!parts.HasTime)
        {
            return parts.DatePart;
        }

        var zone = parts.Zone;
        if (zone is null)
        {
            if (dateOnlyAtMidnight && parts.IsMidnight)
            {
                return parts.DatePart;
            }

            zone = naiveTimeZone is null
                ? throw new FormatException($"'{text}' has a time but no time zone, and the mapping gives none")
                : NormalizeZone(naiveTimeZone, naiveTimeZone);
        }

        return parts.DatePart + "T" + parts.TimePart + zone;
    }

    /// <summary>A FHIR <c>instant</c>: a full date and time with seconds and a zone (the source's, else <paramref name="naiveTimeZone"/>).</summary>
    public static string ToInstant(string text, string? naiveTimeZone = null)
    {
        var parts = ParseDateTime(text, "instant");
        if (!parts.HasTime || parts.DatePart.Length != 10)
        {
            throw new FormatException($"'{text}' is not an instant: it needs a date and a time");
        }

        var zone = parts.Zone
            ?? (naiveTimeZone is null
                ? throw new FormatException($"'{text}' has no time zone, and the mapping gives none")
                : NormalizeZone(naiveTimeZone, naiveTimeZone));
        return parts.DatePart + "T" + parts.TimePart + zone;
    }

    /// <summary>A FHIR <c>decimal</c> as a JSON number token; the source's precision (trailing zeros) is kept.</summary>
    public static string ToDecimal(string text)
    {
        if (!TryParseDecimal(text, out var value))
        {
            throw new FormatException($"'{text}' is not a decimal number");
        }

        return value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>Whether the text is a finite decimal number (invariant culture, optional exponent).</summary>
    public static bool IsDecimal(string text) => TryParseDecimal(text, out _);

    /// <summary>A FHIR <c>integer</c> (32-bit signed) as a JSON number token; <paramref name="minimum"/> gives positiveInt (1) or unsignedInt (0).</summary>
    public static string ToInteger(string text, int minimum = int.MinValue, string typeName = "integer")
    {
        var trimmed = text.Trim();
        if (!int.TryParse(trimmed, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            // "12.0" is an integer written as a decimal, which some exporters do.
            if (!TryParseDecimal(trimmed, out var d) || d != decimal.Truncate(d) || d < int.MinValue || d > int.MaxValue)
            {
                throw new FormatException($"'{text}' is not an {typeName}");
            }

            value = (int)d;
        }

        if (value < minimum)
        {
            throw new FormatException($"'{text}' is not a {typeName} (minimum {minimum})");
        }

        return value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>A FHIR <c>boolean</c> as a JSON token: true/false, 1/0, yes/no, t/f, y/n (any case).</summary>
    public static string ToBoolean(string text) => text.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "t" or "y" => "true",
        "false" or "0" or "no" or "f" or "n" => "false",
        _ => throw new FormatException($"'{text}' is not a boolean"),
    };

    /// <summary>A FHIR <c>code</c>: no leading or trailing whitespace, inner whitespace single spaces.</summary>
    public static string ToCode(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Length == 0)
        {
            throw new FormatException("a code cannot be empty");
        }

        foreach (var c in trimmed)
        {
            if (c is '\t' or '\r' or '\n')
            {
                throw new FormatException($"'{text}' is not a code: it holds a tab or line break");
            }
        }

        return trimmed.Contains("  ", StringComparison.Ordinal)
            ? string.Join(' ', trimmed.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            : trimmed;
    }

    /// <summary>A FHIR <c>id</c>: 1–64 characters of A–Z, a–z, 0–9, '-' and '.'.</summary>
    public static string ToId(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Length is 0 or > 64 || !trimmed.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
        {
            throw new FormatException($"'{text}' is not a FHIR id (1-64 characters of letters, digits, '-' and '.')");
        }

        return trimmed;
    }

    private static bool TryParseDecimal(string text, out decimal value)
    {
        var trimmed = text.Trim();
        value = 0;
        if (trimmed.Length == 0)
        {
            return false;
        }

        return decimal.TryParse(trimmed, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    private readonly record struct DateTimeParts(string DatePart, string TimePart, string? Zone, bool HasTime, bool IsMidnight);

    private static DateTimeParts ParseDateTime(string text, string typeName)
    {
        var trimmed = text.Trim();
        var match = DateTimePattern().Match(trimmed);
        if (!match.Success)
        {
            throw new FormatException($"'{text}' is not a {typeName} (expected yyyy-MM-dd or yyyy-MM-ddThh:mm:ss with an optional zone)");
        }

        var year = int.Parse(match.Groups["y"].ValueSpan, CultureInfo.InvariantCulture);
        if (year < 1)
        {
            throw new FormatException($"'{text}' is not a {typeName}: year 0000");
        }

        var date = match.Groups["y"].Value;
        if (match.Groups["mo"].Success)
        {
            var month = int.Parse(match.Groups["mo"].ValueSpan, CultureInfo.InvariantCulture);
            if (month is < 1 or > 12)
            {
                throw new FormatException($"'{text}' is not a {typeName}: month {month}");
            }

            date += "-" + match.Groups["mo"].Value;
            if (match.Groups["d"].Success)
            {
                var day = int.Parse(match.Groups["d"].ValueSpan, CultureInfo.InvariantCulture);
                if (day < 1 || day > DateTime.DaysInMonth(year, month))
                {
                    throw new FormatException($"'{text}' is not a {typeName}: day {day} of {year:D4}-{month:D2}");
                }

                date += "-" + match.Groups["d"].Value;
            }
        }

        if (!match.Groups["h"].Success)
        {
            return new DateTimeParts(date, "", null, false, false);
        }

        var hour = int.Parse(match.Groups["h"].ValueSpan, CultureInfo.InvariantCulture);
        var minute = int.Parse(match.Groups["mi"].ValueSpan, CultureInfo.InvariantCulture);
        var second = match.Groups["s"].Success ? int.Parse(match.Groups["s"].ValueSpan, CultureInfo.InvariantCulture) : 0;
        if (hour > 23 || minute > 59 || second > 59)
        {
            throw new FormatException($"'{text}' is not a {typeName}: time {hour:D2}:{minute:D2}:{second:D2}");
        }

        var fraction = match.Groups["f"].Success ? match.Groups["f"].Value : "";
        var time = $"{hour:D2}:{minute:D2}:{second:D2}" + (fraction.Length > 0 ? "." + fraction : "");
        var midnight = hour == 0 && minute == 0 && second == 0 && fraction.All(c => c == '0');
        var zone = match.Groups["z"].Success ? NormalizeZone(match.Groups["z"].Value, text) : null;
        return new DateTimeParts(date, time, zone, true, midnight);
    }

    private static string NormalizeZone(string zone, string text)
    {
        if (zone == "Z")
        {
            return "Z";
        }

        var digits = zone.Replace(":", "", StringComparison.Ordinal);
        if (digits.Length != 5 || digits[0] is not ('+' or '-') || !digits[1..].All(char.IsAsciiDigit))
        {
            throw new FormatException($"'{text}': '{zone}' is not a time zone (Z or ±hh:mm)");
        }

        var hours = int.Parse(digits.AsSpan(1, 2), CultureInfo.InvariantCulture);
        var minutes = int.Parse(digits.AsSpan(3, 2), CultureInfo.InvariantCulture);
        if (minutes > 59 || hours > 14 || (hours == 14 && minutes > 0))
        {
            throw new FormatException($"'{text}': '{zone}' is not a time zone (Z or ±hh:mm, at most 14:00)");
        }

        return $"{digits[0]}{hours:D2}:{minutes:D2}";
    }
}
