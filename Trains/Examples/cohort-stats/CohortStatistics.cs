using System.Text.Json;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Sdk;

namespace HealthTrain.Examples.CohortStats;

/// <summary>
/// The cohort-stats computation over one station's resources (or, in tests, the union of all
/// stations'): the statistics declared in train.json, deterministic for a given input order.
/// </summary>
public static class CohortStatistics
{
    public const string Loinc = "http://loinc.org";
    public const string SnomedCt = "http://snomed.info/sct";
    public const string BmiCode = "39156-5";
    public const string HbA1cCode = "4548-4";
    public const string Type2DiabetesCode = "44054006";

    /// <summary>The <c>patients_by_gender</c> categories, FHIR's administrative genders.</summary>
    public static readonly IReadOnlyList<string> Genders = ["female", "male", "other", "unknown"];

    /// <summary>The <c>age_years</c> bin edges: decades from 0 to 120.</summary>
    public static readonly IReadOnlyList<double> AgeBins = [.. Enumerable.Range(0, 13).Select(i => i * 10.0)];

    public static StatisticsResult Compute(
        IEnumerable<JsonElement> patients, IEnumerable<JsonElement> observations, IEnumerable<JsonElement> conditions, DateOnly referenceDate)
    {
        ArgumentNullException.ThrowIfNull(patients);
        ArgumentNullException.ThrowIfNull(observations);
        ArgumentNullException.ThrowIfNull(conditions);

        long patientCount = 0;
        var genders = new CategoryCounter(Genders);
        var ages = new HistogramAccumulator(AgeBins);
        // Kept so that type2_diabetes_patients counts only patients that `patients` counts.
        var patientIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var patient in patients)
        {
            RequireType(patient, "Patient");
            patientCount++;
            if (FhirJson.String(patient, "id") is { } id) patientIds.Add(id);
            var gender = FhirJson.String(patient, "gender");
            genders.Add(gender is not null && Genders.Contains(gender) ? gender : "unknown");
            if (AgeInYears(patient, referenceDate) is { } age) ages.Add(age);
        }

        var bmi = new MeanVarianceAccumulator();
        var hba1c = new MeanVarianceAccumulator();
        foreach (var observation in observations)
        {
            RequireType(observation, "Observation");
            if (FhirJson.String(observation, "status") == "entered-in-error") continue;
            if (FhirJson.HasCoding(observation, "code", Loinc, BmiCode)) AddQuantity(bmi, observation, "kg/m2");
            else if (FhirJson.HasCoding(observation, "code", Loinc, HbA1cCode)) AddQuantity(hba1c, observation, "%");
        }

        var diabeticPatients = new HashSet<string>(StringComparer.Ordinal);
        foreach (var condition in conditions)
        {
            RequireType(condition, "Condition");
            if (FhirJson.HasCoding(condition, "verificationStatus", null, "entered-in-error")
                || FhirJson.HasCoding(condition, "verificationStatus", null, "refuted")
                || !FhirJson.HasCoding(condition, "code", SnomedCt, Type2DiabetesCode))
                continue;
            var subject = FhirJson.Child(condition, "subject") is { } s ? FhirJson.String(s, "reference") : null;
            if (FhirJson.PatientId(subject) is { } id && patientIds.Contains(id)) diabeticPatients.Add(id);
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

    /// <summary>Whole years from birthDate to <paramref name="referenceDate"/>, or to the date of death if earlier; null when either date is unknown.</summary>
    public static int? AgeInYears(JsonElement patient, DateOnly referenceDate)
    {
        if (FhirJson.Date(FhirJson.String(patient, "birthDate")) is not { } birth) return null;
        var at = referenceDate;
        if (FhirJson.String(patient, "deceasedDateTime") is { } deceased)
        {
            // A partial date of death cannot say which side of a birthday the patient died on.
            if (FhirJson.Date(deceased) is not { } death) return null;
            if (death < at) at = death;
        }
        else if (patient.TryGetProperty("deceasedBoolean", out var dead) && dead.ValueKind == JsonValueKind.True)
            return null; // died on an unknown date
        var years = at.Year - birth.Year;
        if (at.Month < birth.Month || (at.Month == birth.Month && at.Day < birth.Day)) years--;
        return years;
    }

    private static void AddQuantity(MeanVarianceAccumulator accumulator, JsonElement observation, string ucumCode)
    {
        if (FhirJson.Child(observation, "valueQuantity") is not { } quantity
            || !quantity.TryGetProperty("value", out var value)
            || value.ValueKind != JsonValueKind.Number
            || !value.TryGetDouble(out var x) || !double.IsFinite(x))
            return;
        // A censored value ("<4") is a bound, not a measurement; a different unit would mix scales.
        if (FhirJson.String(quantity, "comparator") is not null) return;
        if (FhirJson.String(quantity, "code") is { } code && code != ucumCode) return;
        accumulator.Add(x);
    }

    private static void RequireType(JsonElement resource, string resourceType)
    {
        if (resource.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"expected a {resourceType} resource, got a JSON {resource.ValueKind}");
        if (FhirJson.String(resource, "resourceType") is { } type && type != resourceType)
            throw new ArgumentException($"expected a {resourceType} resource, got a {type}");
    }
}
