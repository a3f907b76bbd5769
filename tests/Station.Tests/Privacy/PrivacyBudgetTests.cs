using HealthTrain.Station.Privacy;

namespace HealthTrain.Station.Tests.Privacy;

public class PrivacyBudgetTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ht-privacy-test-").FullName;
    private string Db => Path.Combine(dir, "privacy.db");

    private static PrivacyOptions Options(double budget = 10, double delta = 1e-5) =>
        new() { ClipNorm = 1, NoiseMultiplier = 1, Delta = delta, EpsilonBudget = budget };

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void Projects_epsilon_with_the_accountant()
    {
        var budget = new PrivacyBudget(Db, "fhir", Options());
        var projection = budget.Project(10, 2);
        Assert.Equal(0, projection.EpsilonCommitted);
        Assert.Equal(RdpAccountant.Epsilon(10, 2, 1e-5).Epsilon, projection.EpsilonAfter, 12);
        Assert.True(projection.WithinBudget);
    }

    [Fact]
    public void Refuses_a_run_whose_rounds_would_exceed_the_budget_before_its_first_round_and_records_nothing()
    {
        var budget = new PrivacyBudget(Db, "fhir", Options(budget: 5));
        // 10 rounds at z = 1: ε ≈ 17 > 5.
        var e = Assert.Throws<PrivacyBudgetExceededException>(() => budget.ReserveRun("run-1", 10, 1));
        Assert.StartsWith("run 'run-1' is refused before its first round: its 10 round(s) at noise multiplier 1 cost ε = ", e.Message);
        Assert.Contains("over its budget ε = 5 (δ = 1E-05)", e.Message);
        Assert.False(e.Projection.WithinBudget);
        Assert.Equal(0, budget.Status().EpsilonCommitted);
        Assert.Empty(budget.SpentByRun());
    }

    [Fact]
    public void Reservations_and_releases_persist_and_block_a_second_run_until_the_first_ends()
    {
        var first = new PrivacyBudget(Db, "fhir", Options(budget: 8));
        first.ReserveRun("run-1", 3, 1.5);
        first.Spend("run-1", 1, 1.5);

        // Reopened (as after a station restart): the reservation of rounds 2 and 3 still counts.
        var budget = new PrivacyBudget(Db, "fhir", Options(budget: 8));
        var status = budget.Status();
        Assert.Equal(1, status.Releases);
        Assert.Equal(RdpAccountant.Epsilon(1, 1.5, 1e-5).Epsilon, status.EpsilonSpent, 12);
        Assert.Equal(RdpAccountant.Epsilon(3, 1.5, 1e-5).Epsilon, status.EpsilonCommitted, 12);
        Assert.Throws<PrivacyBudgetExceededException>(() => budget.ReserveRun("run-2", 3, 1.5));

        budget.EndRun("run-1"); // two reserved rounds never released are given back
        Assert.Equal(status.EpsilonSpent, budget.Status().EpsilonCommitted, 12);
        budget.ReserveRun("run-2", 3, 1.5);
        Assert.Throws<InvalidOperationException>(() => budget.Spend("run-1", 2, 1.5));

        var runs = budget.SpentByRun();
        Assert.Equal(["run-1", "run-2"], runs.Select(r => r.RunId));
        Assert.Equal((3, 1L, true), (runs[0].RoundsReserved, runs[0].Released, runs[0].Ended));
        Assert.Equal(RdpAccountant.Epsilon(1, 1.5, 1e-5).Epsilon, runs[0].EpsilonReleased, 12);
        Assert.Equal((3, 0L, false), (runs[1].RoundsReserved, runs[1].Released, runs[1].Ended));
    }

    [Fact]
    public void Releases_within_a_reservation_pass_and_one_beyond_the_budget_is_refused()
    {
        var budget = new PrivacyBudget(Db, "fhir", Options(budget: RdpAccountant.Epsilon(2, 1, 1e-5).Epsilon + 0.01));
        budget.ReserveRun("run-1", 2, 1);
        budget.Spend("run-1", 1, 1);
        budget.Spend("run-1", 2, 1);
        // A retried round is a third release: over budget, so it must not leave, and it is not recorded.
        var e = Assert.Throws<PrivacyBudgetExceededException>(() => budget.Spend("run-1", 2, 1));
        Assert.StartsWith("the update of run 'run-1' round 2 is not released: dataset 'fhir' would reach ε = ", e.Message);
        Assert.Equal(2, budget.Status().Releases);
    }

    [Fact]
    public void Reserving_the_same_run_twice_is_a_no_op_but_changing_it_is_an_error()
    {
        var budget = new PrivacyBudget(Db, "fhir", Options());
        budget.ReserveRun("run-1", 2, 2);
        budget.ReserveRun("run-1", 2, 2);
        Assert.Equal(RdpAccountant.Epsilon(2, 2, 1e-5).Epsilon, budget.Status().EpsilonCommitted, 12);
        Assert.Contains("already reserved 2 rounds", Assert.Throws<InvalidOperationException>(() => budget.ReserveRun("run-1", 3, 2)).Message);
    }

    [Fact]
    public void Datasets_have_separate_budgets_and_the_configured_budget_is_stored()
    {
        new PrivacyBudget(Db, "a", Options(budget: 3)).ReserveRun("run-1", 1, 2); // ε ≈ 2.17
        var b = new PrivacyBudget(Db, "b", Options(budget: 3));
        Assert.Equal(0, b.Status().EpsilonCommitted);
        // Raising the configured budget lets a run through that the old one refused.
        Assert.Throws<PrivacyBudgetExceededException>(() => new PrivacyBudget(Db, "a", Options(budget: 3)).ReserveRun("run-2", 2, 2)); // ε ≈ 4.01
        new PrivacyBudget(Db, "a", Options(budget: 20)).ReserveRun("run-2", 2, 2);
        b.ReserveRun("run-2", 1, 2);
    }

    [Fact]
    public void Refuses_to_open_a_budget_when_privacy_is_disabled_or_misconfigured()
    {
        Assert.Contains("disabled", Assert.Throws<InvalidOperationException>(() => new PrivacyBudget(Db, "fhir", new PrivacyOptions())).Message);
        var e = Assert.Throws<InvalidOperationException>(() => new PrivacyBudget(Db, "fhir", new PrivacyOptions { NoiseMultiplier = 1, Delta = 1 }));
        Assert.Contains("Station:Privacy:ClipNorm must be > 0, got 0", e.Message);
        Assert.Contains("Station:Privacy:Delta must be in (0, 1), got 1", e.Message);
        Assert.Contains("Station:Privacy:EpsilonBudget must be > 0, got 0", e.Message);
    }
}
