using System.Globalization;
using System.Text.RegularExpressions;
using Hl7.Fhir.Model;
using Hl7.FhirPath.Expressions;
using P = Hl7.Fhir.ElementModel.Types;

namespace HealthTrain.Station.Views;

/// <summary>FHIRPath's <c>lowBoundary([precision])</c> and <c>highBoundary([precision])</c> for decimals, integers, dates, date-times and times.</summary>
/// <remarks>
/// Firely has these functions, but its date-time boundaries drop the milliseconds and the time zone
/// (FHIRPath widens an unzoned value to +14:00 at the low end and -12:00 at the high end) and it turns a date
/// into a date-time; these follow the FHIRPath specification.
/// </remarks>
internal static partial class BoundaryFunctions
{
    /// <summary>The names calls to <c>lowBoundary</c> and <c>highBoundary</c> are rewritten to (see <see cref="ViewFhirPath"/>).</summary>
    public const string LowBoundary = "view.lowBoundary";

    public const string HighBoundary = "view.highBoundary";

    [GeneratedRegex(@"^(?<year>\d{4})(?:-(?<month>\d{2})(?:-(?<day>\d{2}))?)?$")]
    private static partial Regex DatePattern();

    [GeneratedRegex(@"^(?<date>[^T]+)(?:T(?<time>[0-9:.]+))?(?<zone>Z|[+-]\d{2}:\d{2})?$")]
    private static partial Regex DateTimePattern();

    [GeneratedRegex(@"^(?<hour>\d{2})(?::(?<minute>\d{2})(?::(?<second>\d{2})(?:\.(?<fraction>\d+))?)?)?$")]
    private static partial Regex TimePattern();

    public static void Register(SymbolTable table)
    {
        table.Add(LowBoundary, (IEnumerable<PocoNode> focus) => Boundary(focus, null, high: false), doNullProp: false);
        table.Add(LowBoundary, (IEnumerable<PocoNode> focus, int precision) => Boundary(focus, precision, high: false), doNullProp: false);
        table.Add(HighBoundary, (IEnumerable<PocoNode> focus) => Boundary(focus, null, high: true), doNullProp: false);
        table.Add(HighBoundary, (IEnumerable<PocoNode> focus, int precision) => Boundary(focus, precision, high: true), doNullProp: false);
    }

    private static IEnumerable<PocoNode> Boundary(IEnumerable<PocoNode> focus, int? precision, bool high)
    {
        var items = focus.Take(2).ToList();
        if (items.Count == 0) return [];
        if (items.Count > 1)
            throw new InvalidOperationException($"{(high ? "highBoundary" : "lowBoundary")}() applies to a single value, not a collection");

        object? result = items[0].GetValue() switch
        {
            decimal d => DecimalBoundary(d, precision, high),
            int i => DecimalBoundary(i, precision, high),
            long l => DecimalBoundary(l, precision, high),
            P.Date date => DateBoundary(date.ToString(), precision, high),
            P.DateTime dateTime => DateTimeBoundary(dateTime.ToString(), precision, high),
            P.Time time => TimeBoundary(time.ToString(), precision, high),
            _ => null,
        };
        return result is null ? [] : [PocoNode.ForAnyPrimitive(result)];
    }

    /// <summary>The value widened by half a unit of its last digit, then, when given, cut outwards to <paramref name="precision"/> decimal places.</summary>
    internal static decimal? DecimalBoundary(decimal value, int? precision, bool high)
    {
        if (precision is < 0 or > 28) return null;
        var halfUnit = 5m / Pow10(value.Scale + 1);
        var bound = high ? value + halfUnit : value - halfUnit;
        if (precision is not { } digits) return bound;
        if (digits < bound.Scale)
        {
            // Cut towards the outside of the interval, so the result still bounds the value.
            var factor = Pow10(digits);
            bound = (high ? Math.Ceiling(bound * factor) : Math.Floor(bound * factor)) / factor;
        }

        return PadScale(bound, digits);
    }

    internal static P.Date? DateBoundary(string date, int? precision, bool high)
    {
        var match = DatePattern().Match(date);
        if (!match.Success || precision is not (null or 4 or 6 or 8)) return null;
        var year = int.Parse(match.Groups["year"].Value, CultureInfo.InvariantCulture);
        var month = match.Groups["month"].Success ? int.Parse(match.Groups["month"].Value, CultureInfo.InvariantCulture) : high ? 12 : 1;
        var day = match.Groups["day"].Success ? int.Parse(match.Groups["day"].Value, CultureInfo.InvariantCulture)
            : high ? DateTime.DaysInMonth(year, month) : 1;
        var text = (precision ?? 8) switch
        {
            4 => $"{year:D4}",
            6 => $"{year:D4}-{month:D2}",
            _ => $"{year:D4}-{month:D2}-{day:D2}",
        };
        return P.Date.Parse(text);
    }

    internal static P.DateTime? DateTimeBoundary(string dateTime, int? precision, bool high)
    {
        var match = DateTimePattern().Match(dateTime);
        if (!match.Success || precision is not (null or 4 or 6 or 8 or 10 or 12 or 14 or 17)) return null;
        var date = DateBoundary(match.Groups["date"].Value, 8, high);
        var time = match.Groups["time"].Success ? match.Groups["time"].Value : "";
        var clock = TimeBoundary(time.Length == 0 ? (high ? "23" : "00") : time, 9, high);
        if (date is null || clock is null) return null;

        var digits = precision ?? 17;
        if (digits <= 8) return P.DateTime.Parse(date.ToString()[..(digits switch { 4 => 4, 6 => 7, _ => 10 })]);

        // An unzoned value could be in any zone: the earliest instant is at +14:00, the latest at -12:00.
        var zone = match.Groups["zone"].Success ? match.Groups["zone"].Value : high ? "-12:00" : "+14:00";
        var clockText = clock.ToString()[..(digits switch { 10 => 2, 12 => 5, 14 => 8, _ => 12 })];
        return P.DateTime.Parse($"{date}T{clockText}{zone}");
    }

    internal static P.Time? TimeBoundary(string time, int? precision, bool high)
    {
        var match = TimePattern().Match(time);
        if (!match.Success || precision is not (null or 2 or 4 or 6 or 9)) return null;
        var hour = match.Groups["hour"].Value;
        var minute = match.Groups["minute"].Success ? match.Groups["minute"].Value : high ? "59" : "00";
        var second = match.Groups["second"].Success ? match.Groups["second"].Value : high ? "59" : "00";
        // Milliseconds are the finest precision: a shorter fraction is padded, a longer one cut.
        var fraction = match.Groups["fraction"].Success ? match.Groups["fraction"].Value : "";
        fraction = fraction.Length >= 3 ? fraction[..3] : fraction.PadRight(3, high ? '9' : '0');
        var text = (precision ?? 9) switch
        {
            2 => hour,
            4 => $"{hour}:{minute}",
            6 => $"{hour}:{minute}:{second}",
            _ => $"{hour}:{minute}:{second}.{fraction}",
        };
        return P.Time.Parse(text);
    }

    private static decimal Pow10(int exponent)
    {
        var result = 1m;
        for (var i = 0; i < exponent; i++) result *= 10m;
        return result;
    }

    // Adding a zero with scale n gives a decimal at least n places long (1.5 -> 1.50): the precision asked for.
    private static decimal PadScale(decimal value, int scale) => value + new decimal(0, 0, 0, false, (byte)scale);
}
