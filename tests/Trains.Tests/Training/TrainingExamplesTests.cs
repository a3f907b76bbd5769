using System.Text.Json;
using HealthTrain.Cli.Images;
using HealthTrain.Examples.DiabetesRisk;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Sdk;
using HealthTrain.Trains.Tests.Images;

namespace HealthTrain.Trains.Tests.Training;

/// <summary>The example training trains' manifests and diabetes-risk's feature code, on the host (no libtorch).</summary>
public sealed class TrainingExamplesTests
{
    private static string Example(string name) => Path.Combine(ImageTestEnvironment.RepositoryRoot, "Trains", "Examples", name);

    [Theory]
    [InlineData("diabetes-risk", 6)]
    [InlineData("pneumonia-cnn", 8)]
    public void The_examples_manifests_are_valid_training_manifests(string name, int tensors)
    {
        var (manifest, json) = TrainImageBuilder.ReadManifest(Example(name));
        Assert.Equal(name, manifest.Name);
        Assert.Equal(TrainKinds.Training, manifest.Kind);
        Assert.Equal(tensors, manifest.Outputs.Tensors.Count);
        Assert.All(manifest.Outputs.Tensors, t => Assert.Equal("float32", t.Dtype));
        Assert.Empty(ManifestValidator.Parse(json).Errors);
    }

    [Fact]
    public void Diabetes_risk_declares_one_weight_column_per_feature()
    {
        // HiddenUnits is a constant, compiled in: the model type (and libtorch) is never loaded here.
        var (manifest, _) = TrainImageBuilder.ReadManifest(Example("diabetes-risk"));
        Assert.Equal([1L, DiabetesFeatures.Count], manifest.Outputs.Tensors.Single(t => t.Name == "linear_weight").Shape);
        Assert.Equal([(long)DiabetesRiskModel.HiddenUnits, DiabetesFeatures.Count], manifest.Outputs.Tensors.Single(t => t.Name == "hidden_weight").Shape);
    }

    private static JsonElement Row(object value) => JsonSerializer.SerializeToElement(value);

    private static object Obs(string patient, string feature, double value, string unit, string effective, string? comparator = null) =>
        new { patient_key = patient, status = "final", effective, feature, value, unit, comparator };

    [Fact]
    public void Features_use_the_latest_measurement_up_to_diagnosis_with_fixed_scaling()
    {
        var patients = new[]
        {
            Row(new { patient_key = "Patient/a", gender = "male", birth_date = "1961-06-01", deceased_date_time = (string?)null, deceased = (bool?)null }),
            Row(new { patient_key = "Patient/b", gender = "female", birth_date = "1981-06-01", deceased_date_time = (string?)null, deceased = (bool?)null }),
        };
        var observations = new[]
        {
            Row(Obs("Patient/a", "bmi", 30, "kg/m2", "2010-01-01T00:00:00Z")),
            Row(Obs("Patient/a", "bmi", 39, "kg/m2", "2016-01-01T00:00:00Z")),   // after a's diagnosis: not used
            Row(Obs("Patient/a", "hba1c", 7.7, "%", "2014-12-31T00:00:00Z")),
            Row(Obs("Patient/b", "glucose", 5.55, "mmol/L", "2020-01-01T00:00:00Z")), // converted to mg/dL
            Row(Obs("Patient/b", "hdl", 20, "mg/dL", "2020-01-01T00:00:00Z", comparator: "<")), // a bound: not used
            Row(Obs("Patient/b", "bmi", 27, "lb/in2", "2020-01-01T00:00:00Z")),  // unknown unit: not used
            Row(Obs("Patient/x", "bmi", 50, "kg/m2", "2020-01-01T00:00:00Z")),   // no such patient
        };
        var diagnoses = new[] { Row(new { patient_key = "Patient/a", code = "44054006", onset = "2015-01-01T00:00:00Z", verification_status = "confirmed" }) };

        var examples = DiabetesFeatures.Build(patients, observations, diagnoses, new DateOnly(2021, 6, 1));
        var a = examples.Single(e => e.PatientKey == "Patient/a");
        var b = examples.Single(e => e.PatientKey == "Patient/b");
        Assert.Equal((1, 0), (a.Label, b.Label));
        Assert.Equal((53 - 50) / 20f, a.Features[0], 5);          // age at diagnosis
        Assert.Equal(1f, a.Features[1]);                          // male
        Assert.Equal((30 - 27) / 6f, a.Features[2], 5);           // the pre-diagnosis BMI
        Assert.Equal((7.7f - 5.7f) / 1f, a.Features[5], 5);
        Assert.Equal((40 - 50) / 20f, b.Features[0], 5);
        Assert.Equal(-1f, b.Features[1]);                         // female
        Assert.Equal(0f, b.Features[2]);                          // missing BMI imputed at the center
        Assert.Equal((5.55 * 18.016 - 100) / 25, b.Features[6], 4);
        Assert.Equal(0f, b.Features[8]);

        var noGlycemic = DiabetesFeatures.Build(patients, observations, diagnoses, new DateOnly(2021, 6, 1), "no_glycemic");
        Assert.Equal(0f, noGlycemic.Single(e => e.PatientKey == "Patient/a").Features[5]);
        Assert.Equal(0f, noGlycemic.Single(e => e.PatientKey == "Patient/b").Features[6]);
    }

    [Fact]
    public void Scaling_is_clipped_and_bad_rows_or_parameters_are_refused()
    {
        Assert.Equal(5f, DiabetesFeatures.Scale(DiabetesFeatures.Features[2], 1000));
        Assert.Throws<TrainInputException>(() => DiabetesFeatures.Build([], [], [], new DateOnly(2021, 1, 1), "everything"));
        var e = Assert.Throws<TrainInputException>(() => DiabetesFeatures.Build([Row(new { patient_key = "Patient/a" })], [], [], new DateOnly(2021, 1, 1)));
        Assert.Contains("no column 'birth_date'", e.Message);
    }
}
