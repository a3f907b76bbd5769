using System.Globalization;
using System.Text.Json;
using HealthTrain.Trains.Sdk;

namespace HealthTrain.Examples.DiabetesRisk;

/// <summary>One patient's example: the join key (also the split's record id), scaled features and the type 2 diabetes label.</summary>
public sealed record PatientExample(string PatientKey, float[] Features, int Label);

/// <summary>
/// Turns the three view inputs into one example per patient with a fixed, documented scaling, so every station
/// transforms identically and no data-dependent statistic leaves or is needed. Each feature is the patient's latest
/// measurement at or before the index date — the first type 2 diabetes diagnosis for a case, the reference date for
/// everyone else — scaled as (x − center) / scale and clipped to ±5; a missing measurement is imputed as the center
/// (0 after scaling), so its absence is no feature.
/// </summary>
/// <remarks>
/// Label leakage: HbA1c ≥ 6.5 % (or fasting glucose ≥ 126 mg/dL) is how type 2 diabetes is diagnosed, and in Synthea
/// HbA1c is measured mainly in patients who have or are suspected of diabetes. With <c>features=all</c> the model
/// therefore partly re-learns the diagnostic rule; <c>features=no_glycemic</c> leaves HbA1c and glucose out (their
/// columns are held at 0) and shows what the other risk factors carry.
/// </remarks>
public static class DiabetesFeatures
{
    public const string PatientsInput = "patients";
    public const string ObservationsInput = "observations";
    public const string DiagnosesInput = "diagnoses";

    /// <summary>A feature: its name (the view's <c>feature</c> column, or a demographic), center and scale, and the units it accepts with their factor to the canonical unit.</summary>
    public sealed record Feature(string Name, double Center, double Scale, IReadOnlyDictionary<string, double> Units, bool Glycemic = false);

    private static Dictionary<string, double> Unit(string unit, double factor = 1) => new(StringComparer.Ordinal) { [unit] = factor };

    /// <summary>The features in model order. Centers and scales are typical adult values, fixed here (not estimated from data).</summary>
    public static readonly IReadOnlyList<Feature> Features =
    [
        new("age_years", 50, 20, Unit("a")),
        new("sex_male", 0.5, 0.5, Unit("1")),
        new("bmi", 27, 6, Unit("kg/m2")),
        new("systolic_bp", 125, 15, Unit("mm[Hg]")),
        new("diastolic_bp", 80, 10, Unit("mm[Hg]")),
        new("hba1c", 5.7, 1.0, Unit("%"), Glycemic: true),
        new("glucose", 100, 25, new Dictionary<string, double> { ["mg/dL"] = 1, ["mmol/L"] = 18.016 }, Glycemic: true),
        new("triglycerides", 150, 75, new Dictionary<string, double> { ["mg/dL"] = 1, ["mmol/L"] = 88.57 }),
        new("hdl", 50, 15, new Dictionary<string, double> { ["mg/dL"] = 1, ["mmol/L"] = 38.67 }),
    ];

    public static int Count => Features.Count;

    /// <summary>The <c>features</c> parameter's values.</summary>
    public static readonly IReadOnlyList<string> FeatureSets = ["all", "no_glycemic"];

    /// <summary>Scaled value: (x − center) / scale, clipped to ±5 so one implausible entry cannot dominate.</summary>
    public static float Scale(Feature feature, double value) => (float)Math.Clamp((value - feature.Center) / feature.Scale, -5, 5);

    /// <summary>
    /// Builds one example per patient row. Observation and diagnosis rows of patients not in <paramref name="patients"/>
    /// are ignored; a row lacking a column the train reads throws <see cref="TrainInputException"/>.
    /// </summary>
    public static List<PatientExample> Build(
        IEnumerable<JsonElement> patients, IEnumerable<JsonElement> observations, IEnumerable<JsonElement> diagnoses,
        DateOnly referenceDate, string featureSet = "all")
    {
        if (!FeatureSets.Contains(featureSet))
            throw new TrainInputException($"parameter 'features' must be one of {string.Join(", ", FeatureSets)}, not '{featureSet}'");
        var excludeGlycemic = featureSet == "no_glycemic";

        // Index date per case: the earliest diagnosis (a diagnosis without onset counts from the reference date).
        var diagnosed = new Dictionary<string, DateOnly>(StringComparer.Ordinal);
        var row = 0;
        foreach (var d in diagnoses)
        {
            row++;
            var key = Text(d, "patient_key", DiagnosesInput, row);
            if (key is null || Text(d, "verification_status", DiagnosesInput, row) is "refuted" or "entered-in-error") continue;
            var onset = Date(Text(d, "onset", DiagnosesInput, row)) ?? referenceDate;
            diagnosed[key] = diagnosed.TryGetValue(key, out var known) && known < onset ? known : onset;
        }

        // Latest usable measurement per patient and feature, up to each patient's index date.
        var byName = Features.Select((f, i) => (f, i)).ToDictionary(x => x.f.Name, x => x.i, StringComparer.Ordinal);
        var latest = new Dictionary<(string Patient, int Feature), (DateTimeOffset At, double Value)>();
        row = 0;
        foreach (var o in observations)
        {
            row++;
            var key = Text(o, "patient_key", ObservationsInput, row);
            var name = Text(o, "feature", ObservationsInput, row);
            if (key is null || name is null || !byName.TryGetValue(name, out var index)) continue;
            if (Text(o, "status", ObservationsInput, row) is "entered-in-error" or "cancelled" or "preliminary") continue;
            if (Text(o, "comparator", ObservationsInput, row) is not null) continue; // a bound, not a measurement
            if (Number(o, "value", ObservationsInput, row) is not { } value || !double.IsFinite(value)) continue;
            var feature = Features[index];
            var unit = Text(o, "unit", ObservationsInput, row);
            double factor = 1;
            if (unit is not null && !feature.Units.TryGetValue(unit, out factor)) continue; // another scale
            if (!DateTimeOffset.TryParse(Text(o, "effective", ObservationsInput, row), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)) continue;
            var indexDate = diagnosed.TryGetValue(key, out var dx) ? dx : referenceDate;
            if (DateOnly.FromDateTime(at.UtcDateTime) > indexDate) continue;
            if (!latest.TryGetValue((key, index), out var seen) || at > seen.At) latest[(key, index)] = (at, value * factor);
        }

        var examples = new List<PatientExample>();
        row = 0;
        foreach (var p in patients)
        {
            row++;
            var key = Text(p, "patient_key", PatientsInput, row);
            if (key is null) continue;
            var x = new float[Count];
            var indexDate = diagnosed.TryGetValue(key, out var dx) ? dx : referenceDate;
            if (AgeInYears(Text(p, "birth_date", PatientsInput, row), indexDate) is { } age) x[0] = Scale(Features[0], age);
            x[1] = Text(p, "gender", PatientsInput, row) switch { "male" => Scale(Features[1], 1), "female" => Scale(Features[1], 0), _ => 0 };
            for (var i = 2; i < Count; i++)
            {
                if (excludeGlycemic && Features[i].Glycemic) continue;
                if (latest.TryGetValue((key, i), out var m)) x[i] = Scale(Features[i], m.Value);
            }
            examples.Add(new PatientExample(key, x, diagnosed.ContainsKey(key) ? 1 : 0));
        }
        return examples;
    }

    /// <summary>Whole years from a FHIR birth date to <paramref name="at"/>; null for a partial or missing date.</summary>
    public static int? AgeInYears(string? birthDate, DateOnly at)
    {
        if (Date(birthDate) is not { } birth || birth > at) return null;
        var years = at.Year - birth.Year;
        if (at.Month < birth.Month || (at.Month == birth.Month && at.Day < birth.Day)) years--;
        return years;
    }

    /// <summary>A full date, or the date part of a dateTime; null for partial dates.</summary>
    private static DateOnly? Date(string? value) =>
        value is { Length: >= 10 } && DateOnly.TryParseExact(value.AsSpan(0, 10), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var d)
            ? d : null;

    private static string? Text(JsonElement row, string column, string input, int number)
    {
        var v = Column(row, column, input, number);
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => v.GetString(),
            _ => throw new TrainInputException($"view input '{input}', row {number}: column '{column}' must be a string or null, not {v.GetRawText()}"),
        };
    }

    private static double? Number(JsonElement row, string column, string input, int number)
    {
        var v = Column(row, column, input, number);
        return v.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.Number => v.GetDouble(),
            _ => throw new TrainInputException($"view input '{input}', row {number}: column '{column}' must be a number or null, not {v.GetRawText()}"),
        };
    }

    private static JsonElement Column(JsonElement row, string column, string input, int number)
    {
        if (row.ValueKind != JsonValueKind.Object)
            throw new TrainInputException($"view input '{input}', row {number}: a row must be a JSON object");
        return row.TryGetProperty(column, out var v)
            ? v
            : throw new TrainInputException($"view input '{input}', row {number}: has no column '{column}'; is the input the view diabetes-risk declares?");
    }
}
