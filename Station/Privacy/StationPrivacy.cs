using HealthTrain.Station.Jobs;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Privacy;

/// <summary>
/// The station's privacy policy for training runs (<c>Station:Privacy</c>): when enabled, a run is reserved against the
/// station's ε budget before its first round (and refused if it cannot be paid for), and each update is clipped,
/// noised and recorded before it is released. The dataset is the station's FHIR store, named after the station.
/// </summary>
public sealed class StationPrivacy
{
    private readonly StationOptions options;
    private readonly PrivacyBudget? budget;

    public StationPrivacy(StationOptions options)
    {
        this.options = options;
        if (options.Privacy.Enabled)
            budget = new PrivacyBudget(Path.Combine(options.DataDir, "station.db"), options.Name, options.Privacy);
    }

    public bool Enabled => budget is not null;

    /// <summary>The station's budget, when privacy is enabled.</summary>
    public PrivacyBudget? Budget => budget;

    private static string RunKey(JobAssignment job) => $"run/{job.RunId}";

    /// <summary>Reserves the job's whole run (a no-op after its first round); refuses, naming the numbers, when the budget cannot pay.</summary>
    public void Reserve(JobAssignment job)
    {
        if (budget is null || job.Training is null) return;
        try
        {
            budget.ReserveRun(RunKey(job), job.Training.Rounds, options.Privacy.NoiseMultiplier);
        }
        catch (PrivacyBudgetExceededException e)
        {
            throw new JobFailedException("privacy", e.Message);
        }
        catch (InvalidOperationException e)
        {
            throw new JobFailedException("privacy", e.Message);
        }
    }

    /// <summary>
    /// Clips and noises the update in place of <paramref name="updatePath"/> (against the round's global model when there
    /// is one) and records the release; returns what the mechanism did.
    /// </summary>
    public PrivateRelease Release(JobAssignment job, TrainManifest manifest, string updatePath, string? globalModelPath)
    {
        if (budget is null) throw new InvalidOperationException("privacy is disabled");
        var released = updatePath + ".released";
        PrivateRelease release;
        try
        {
            using (var output = File.Create(released))
                release = new GaussianMechanism(options.Privacy).Release(manifest.Outputs.Tensors, updatePath, globalModelPath, output);
            budget.Spend(RunKey(job), job.Round, options.Privacy.NoiseMultiplier);
        }
        catch (Exception e) when (e is InvalidDataException or PrivacyBudgetExceededException or InvalidOperationException)
        {
            File.Delete(released);
            throw new JobFailedException("privacy", e.Message);
        }
        File.Move(released, updatePath, overwrite: true);
        return release;
    }
}
