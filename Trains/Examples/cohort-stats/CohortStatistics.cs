using System.Globalization;
using System.Text.Json;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Sdk;

namespace HealthTrain.Examples.CohortStats;

/// <summary>
/// The cohort-stats computation over one station's view rows (or, in tests, the union of all stations'):
/// the statistics declared in train.json, deterministic for a given input order.
/// </summary>
/// <remarks>
/// The rows are those of the shared views train.json names (<c>fhir-mappings/views/</c>): the station has already
/// picked the LOINC and SNOMED CT codes, so what is left here is the statistics' own rules. Rows are joined on
/// <c>patient_key</c> (<c>Patient/{id}</c>).
/// </remarks>
public static class CohortStatistics
{
    /// <summary>The view input with one row per patient (view <c>patient_demographics</c>).</summary>
    public const string PatientsInput = "patients";

    /// <summary>The view input with the BMI and HbA1c observations (view <c>diabetes_labs</c>).</summary>
    public const string LabsInput = "labs";

    /// <summary>The view input with the type 2 diabetes conditions (view <c>type2_diabetes_conditions</c>).</summary>
    public const string Type2DiabetesInput = "type2_diabetes";

    public const string BmiCode = "39156-5";
    public const string HbA1cCode = "4548-4";

    /// <summary>The <c>patients_by_gender</c> categories, FHIR's administrative genders.</summary>
    public static readonly IReadOnlyList<string> Genders = ["female", "male", "other", "unknown"];

    /// <summary>The <c>age_years</c> bin edges: decades from 0 to 120.</summary>
    public static readonly IReadOnlyList<double> AgeBins = [.. Enumerable.Range(0, 13).Select(i => i * 10.0)];

    /// <summary>
    /// Computes the statistics from the rows of the three view inputs. A row that lacks a column the computation reads,
    /// or holds a value of the wrong JSON type there, throws <see cref="TrainInputException"/> naming the input, row and column.
    /// </summary>
    public static StatisticsResult Compute(
        IEnumerable<JsonElement> patients, IEnumerable<JsonElement> labs, IEnumerable<JsonElement> type2Diabetes, DateOnly referenceDate)
    {
        ArgumentNullException.ThrowIfNull(patients);
        ArgumentNullException.ThrowIfNull(labs);
        ArgumentNullException.ThrowIfNull(type2Diabetes);

        long patientCount = 0;
        var genders = new CategoryCounter(Genders);
        var ages = new HistogramAccumulator(AgeBins);
        // Kept so that type2_diabetes_patients counts only patients that `patients` counts.
        var patientKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var patient in Rows(PatientsInput, patients, PatientColumns))
        {
            patientCount++;
            if (patient.Text("patient_key") is { } key) patientKeys.Add(key);
            var gender = patient.Text("gender");
            genders.Add(gender is not null && Genders.Contains(gender) ? gender : "unknown");
            var age = AgeInYears(patient.Text("birth_date"), patient.Text("deceased_date_time"), patient.Boolean("deceased"), referenceDate);
            if (age is { } years) ages.Add(years);
        }

        var bmi = new MeanVarianceAccumulator();
        var hba1c = new MeanVarianceAccumulator();
        foreach (var lab in Rows(LabsInput, labs, LabColumns))
        {
            if (lab.Text("status") == "entered-in-error") continue;
            switch (lab.Text("loinc"))
            {
                case BmiCode: AddQuantity(bmi, lab, "kg/m2"); break;
                case HbA1cCode: AddQuantity(hba1c, lab, "%"); break;
            }
        }

        var diabeticPatients = new HashSet<string>(StringComparer.Ordinal);
        foreach (var condition in Rows(Type2DiabetesInput, type2Diabetes, Type2DiabetesColumns))
        {
            if (condition.Text("verification_status") is "refuted" or "entered-in-error") continue;
            if (condition.Text("patient_key") is { } key && patientKeys.Contains(key)) diabeticPatients.Add(key);
        }

        return new StatisticsResult
        {
            Statistics = new()
            {
                ["patients"] = Statistic.Count(patientCount),
                ["patients_by_gender"] = genders.ToStatistic(),
                ["age_years"] = ages.ToStatistic(),
                ["bmi"] = bmi.ToVariance(),
                ["hba1c"] = hba1c.ToVariance(),
                ["type2_diabetes_patients"] = Statistic.Count(diabeticPatients.Count),
            },
        };
    }

    /// <summary>
    /// Whole years from <paramref name="birthDate"/> to <paramref name="referenceDate"/>, or to the date of death if earlier;
    /// null when the birth date is not a full date, when the date of death is partial, or when the patient is deceased
    /// (<paramref name="deceased"/> true) on no known date. Dates are FHIR text as the views deliver it.
    /// </summary>
    public static int? AgeInYears(string? birthDate, string? deceasedDateTime, bool? deceased, DateOnly referenceDate)
    {
        if (Date(birthDate) is not { } birth) return null;
        var at = referenceDate;
        if (deceasedDateTime is not null)
        {
            // A partial date of death cannot say which side of a birthday the patient died on.
            if (Date(deceasedDateTime) is not { } death) return null;
            if (death < at) at = death;
        }
        else if (deceased == true)
            return null; // died on an unknown date
        var years = at.Year - birth.Year;
        if (at.Month < birth.Month || (at.Month == birth.Month && at.Day < birth.Day)) years--;
        return years;
    }

    private static void AddQuantity(MeanVarianceAccumulator accumulator, Row lab, string ucumCode)
    {
        if (lab.Number("value") is not { } x || !double.IsFinite(x)) return;
        // A censored value ("<4") is a bound, not a measurement; a different unit would mix scales.
        if (lab.Text("comparator") is not null) return;
        if (lab.Text("unit") is { } unit && unit != ucumCode) return;
        accumulator.Add(x);
    }

    /// <summary>A full FHIR date, or the date part of a dateTime; null for partial dates (year or year-month), which name no single day.</summary>
    private static DateOnly? Date(string? value) =>
        value is { Length: >= 10 }
        && DateOnly.TryParseExact(value.AsSpan(0, 10), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
        && (value.Length == 10 || value[10] == 'T')
            ? date
            : null;

    // The columns read from each view; every row must have them all, whichever branch it takes.
    private static readonly string[] PatientColumns = ["patient_key", "gender", "birth_date", "deceased_date_time", "deceased"];
    private static readonly string[] LabColumns = ["loinc", "status", "value", "unit", "comparator"];
    private static readonly string[] Type2DiabetesColumns = ["patient_key", "verification_status"];

    private static IEnumerable<Row> Rows(string input, IEnumerable<JsonElement> rows, string[] columns)
    {
        var number = 0;
        foreach (var element in rows)
        {
            number++;
            if (element.ValueKind != JsonValueKind.Object)
                throw new TrainInputException($"view input '{input}', row {number}: a row must be a JSON object, not {element.ValueKind}");
            var row = new Row(input, number, element);
            foreach (var column in columns)
                if (!element.TryGetProperty(column, out _)) throw row.Missing(column);
            yield return row;
        }
    }

    /// <summary>
    /// One view row, read by column. A column the computation reads must be present (the view declares it, so the
    /// station always writes it) and hold null or the JSON type of the column's FHIR type; anything else means the
    /// train was given some other view.
    /// </summary>
    private readonly record struct Row(string Input, int RowNumber, JsonElement Element)
    {
        public string? Text(string column) => Get(column, JsonValueKind.String, "a string") is { } v ? v.GetString() : null;

        public double? Number(string column) => Get(column, JsonValueKind.Number, "a number") is { } v && v.TryGetDouble(out var x) ? x : null;

        public bool? Boolean(string column)
        {
            if (!Element.TryGetProperty(column, out var value)) throw Missing(column);
            return value.ValueKind switch
            {
                JsonValueKind.Null => null,
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw WrongType(column, value, "true, false"),
            };
        }

        private JsonElement? Get(string column, JsonValueKind kind, string expected)
        {
            if (!Element.TryGetProperty(column, out var value)) throw Missing(column);
            if (value.ValueKind == JsonValueKind.Null) return null;
            return value.ValueKind == kind ? value : throw WrongType(column, value, expected);
        }

        public TrainInputException Missing(string column) =>
            new($"view input '{Input}', row {RowNumber}: has no column '{column}'; is the input the view cohort-stats declares?");

        private TrainInputException WrongType(string column, JsonElement value, string expected) =>
            new($"view input '{Input}', row {RowNumber}: column '{column}' must be {expected} or null, not {value.GetRawText()}");
    }
}
