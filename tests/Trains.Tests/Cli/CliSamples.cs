using System.Text.Json.Nodes;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests.Cli;

/// <summary>Hub answers as the CLI lists and shows them: runs, jobs, models, keys, approvals.</summary>
internal static class CliSamples
{
    public static readonly DateTimeOffset At = new(2026, 3, 1, 9, 30, 0, TimeSpan.Zero);

    public const string Digest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

    public static JobInfo Job(long id, int round, string station, string state, string? error = null) =>
        new(id, round, station, state, 1, error, null, null, null, null, null, null, null);

    public static RunInfo Run(long id, string state, params JobInfo[] jobs) =>
        new(id, 3, "cohort-stats:1.1.0", "alice", state, 2, jobs.Length == 0 ? 1 : jobs.Max(j => j.Round), new JsonObject { ["min_age"] = 18 }, At, null, jobs);

    /// <summary>A finished run with a timed, digested job, one that failed with its log, and one still queued.</summary>
    public static RunInfo Finished() => Run(7, RunStates.Completed,
        Job(21, 1, "hospital-a", JobStates.Succeeded) with
        {
            Timings = new JobTimings { TotalMs = 1830, RunMs = 912 },
            ResultDigest = Digest,
            Inputs = [new JobInputSummary("patients", "resource", "Patient", ["id", "gender"], 412)],
        },
        Job(22, 1, "hospital-b", JobStates.Failed, "the train exited with 3") with { ExitCode = 3, LogTail = "starting\nno data" },
        Job(23, 2, "hospital-c", JobStates.Queued));

    public static ModelVersionInfo Model(long run, int round, IReadOnlyDictionary<string, double> metrics) =>
        new(5, Digest, run, round, "diabetes-risk:1.0.0", null, "fedavg",
            [new ModelContribution("hospital-a", 41, Digest, 300, new Dictionary<string, double> { ["loss"] = 0.41234, ["auc"] = 0.8 }),
             new ModelContribution("hospital-b", 42, Digest, 212, new Dictionary<string, double>())],
            512, metrics, At);

    public static KeyInfo Key(string owner, DateTimeOffset? revoked) => new("a1b2c3d4e5f60718293a4b5c6d7e8f90", owner, At, revoked, "");

    public static ApprovalInfo Approval(string state, string? decidedBy, params long[] waiting) =>
        new(Digest, "alice/cohort-stats", "cohort-stats", "1.1.0", "statistics", "alice", state, At, decidedBy,
            decidedBy is null ? null : At.AddHours(1), null, waiting);
}
