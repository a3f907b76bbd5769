using HealthTrain.Examples.CohortStats;
using HealthTrain.Trains.Sdk;

try
{
    var context = TrainContext.FromEnvironment();
    var referenceDate = context.Parameters.GetDate("reference_date");
    var result = CohortStatistics.Compute(
        context.ReadView(CohortStatistics.PatientsInput),
        context.ReadView(CohortStatistics.LabsInput),
        context.ReadView(CohortStatistics.Type2DiabetesInput),
        referenceDate);
    var path = context.WriteStatistics(result);
    var s = result.Statistics;
    Console.WriteLine(
        $"cohort-stats: {s["patients"].Value} patients, {s["type2_diabetes_patients"].Value} with type 2 diabetes, " +
        $"{s["bmi"].N} BMI and {s["hba1c"].N} HbA1c observations at {referenceDate:yyyy-MM-dd} -> {path}");
    return 0;
}
catch (TrainInputException e)
{
    Console.Error.WriteLine($"cohort-stats: invalid input: {e.Message}");
    return 2;
}
catch (Exception e)
{
    // Unexpected: the stack trace is what the train's author needs from the station's log.
    Console.Error.WriteLine($"cohort-stats: failed: {e}");
    return 1;
}
