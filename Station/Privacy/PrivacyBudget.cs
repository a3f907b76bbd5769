using System.Globalization;
using Dapper;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Privacy;

/// <summary>
/// The ε budget of one station dataset, kept in SQLite in a database file the caller names. A DP run reserves all its
/// rounds before the first one runs (<see cref="ReserveRun"/>), and each released update is recorded
/// (<see cref="Spend"/>) before it leaves. What is committed — every release plus the rounds reserved by runs that
/// have not ended — is accounted exactly with <see cref="RdpAccountant"/> (Gaussian releases compose through
/// ρ = Σ 1/(2zᵢ²)), so releases at different noise multipliers add up correctly.
/// </summary>
/// <remarks>
/// A retried job that releases the same round again is a second release and is charged again. The configured budget
/// and δ are stored on every open; ε is always recomputed from the recorded noise multipliers under the current δ.
/// </remarks>
public sealed class PrivacyBudget
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS privacy_budgets (
            dataset        TEXT PRIMARY KEY,
            epsilon_budget REAL NOT NULL,
            delta          REAL NOT NULL,
            updated_at     TEXT NOT NULL
        );

        -- A run's reservation: the rounds it will release at most, at its noise multiplier; ended runs reserve nothing more.
        CREATE TABLE IF NOT EXISTS privacy_runs (
            dataset          TEXT NOT NULL,
            run_id           TEXT NOT NULL,
            rounds           INTEGER NOT NULL,
            noise_multiplier REAL NOT NULL,
            reserved_at      TEXT NOT NULL,
            ended_at         TEXT NULL,
            PRIMARY KEY (dataset, run_id)
        );

        -- One row per update released (a retried round is a second row).
        CREATE TABLE IF NOT EXISTS privacy_releases (
            release_id       INTEGER PRIMARY KEY AUTOINCREMENT,
            dataset          TEXT NOT NULL,
            run_id           TEXT NOT NULL,
            round            INTEGER NOT NULL,
            noise_multiplier REAL NOT NULL,
            released_at      TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS ix_privacy_releases_run ON privacy_releases (dataset, run_id);
        """;

    private readonly string connectionString;

    /// <summary>Opens (creating if needed) the budget of <paramref name="dataset"/> in <paramref name="databasePath"/>, with the configured ε budget and δ.</summary>
    public PrivacyBudget(string databasePath, string dataset, PrivacyOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(databasePath);
        ArgumentException.ThrowIfNullOrEmpty(dataset);
        options.EnsureValid();
        if (!options.Enabled) throw new InvalidOperationException("privacy is disabled (Station:Privacy:NoiseMultiplier is 0): there is no budget to keep");
        connectionString = new SqliteConnectionStringBuilder { DataSource = databasePath, DefaultTimeout = 30 }.ToString();
        Dataset = dataset;
        EpsilonBudget = options.EpsilonBudget;
        Delta = options.Delta;
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        connection.Execute(Schema, transaction: transaction);
        connection.Execute("""
            INSERT INTO privacy_budgets (dataset, epsilon_budget, delta, updated_at) VALUES (@Dataset, @EpsilonBudget, @Delta, @Now)
            ON CONFLICT (dataset) DO UPDATE SET epsilon_budget = excluded.epsilon_budget, delta = excluded.delta, updated_at = excluded.updated_at
            WHERE epsilon_budget <> excluded.epsilon_budget OR delta <> excluded.delta
            """, new { Dataset, EpsilonBudget, Delta, Now = Now() }, transaction);
        transaction.Commit();
    }

    public string Dataset { get; }
    public double EpsilonBudget { get; }
    public double Delta { get; }

    /// <summary>What is spent (released) and committed (released + reserved by runs not yet ended).</summary>
    public PrivacyStatus Status()
    {
        using var connection = Open();
        var (spent, committed) = Rhos(connection, null);
        return new PrivacyStatus(Dataset, EpsilonBudget, Delta, Eps(spent), Eps(committed),
            connection.ExecuteScalar<long>("SELECT COUNT(*) FROM privacy_releases WHERE dataset = @Dataset", new { Dataset }));
    }

    /// <summary>ε committed now and after <paramref name="releases"/> more releases at <paramref name="noiseMultiplier"/>, against the budget.</summary>
    public PrivacyProjection Project(int releases, double noiseMultiplier)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(releases);
        using var connection = Open();
        var (_, committed) = Rhos(connection, null);
        return Projection(committed, releases, noiseMultiplier);
    }

    /// <summary>
    /// Reserves a whole run — <paramref name="rounds"/> releases at <paramref name="noiseMultiplier"/> — before its first
    /// round runs, or refuses it if the dataset's budget cannot pay for all of them. Reserving the same run again with the
    /// same rounds and noise is a no-op.
    /// </summary>
    /// <exception cref="PrivacyBudgetExceededException">The run would take the dataset over its budget; nothing is recorded.</exception>
    public PrivacyProjection ReserveRun(string runId, int rounds, double noiseMultiplier)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentOutOfRangeException.ThrowIfLessThan(rounds, 1);
        CheckNoise(noiseMultiplier);
        using var connection = Open();
        using var transaction = connection.BeginTransaction(); // BEGIN IMMEDIATE: reservations never race each other
        var existing = connection.QuerySingleOrDefault<(long Rounds, double Noise)?>(
            "SELECT rounds, noise_multiplier FROM privacy_runs WHERE dataset = @Dataset AND run_id = @runId", new { Dataset, runId }, transaction);
        var (_, committed) = Rhos(connection, transaction);
        if (existing is { } e)
        {
            if (e.Rounds == rounds && e.Noise == noiseMultiplier) return Projection(committed, 0, noiseMultiplier);
            throw new InvalidOperationException($"run '{runId}' already reserved {e.Rounds} rounds at noise multiplier {F(e.Noise)} for dataset '{Dataset}'");
        }
        var projection = Projection(committed, rounds, noiseMultiplier);
        if (!projection.WithinBudget)
            throw new PrivacyBudgetExceededException(
                $"run '{runId}' is refused before its first round: its {rounds} round(s) at noise multiplier {F(noiseMultiplier)} cost ε = {F(RdpAccountant.Epsilon(rounds, noiseMultiplier, Delta).Epsilon)} alone, " +
                $"and dataset '{Dataset}' has ε = {F(projection.EpsilonCommitted)} committed, so it would reach ε = {F(projection.EpsilonAfter)}, over its budget ε = {F(EpsilonBudget)} (δ = {F(Delta)})", projection);
        connection.Execute("""
            INSERT INTO privacy_runs (dataset, run_id, rounds, noise_multiplier, reserved_at) VALUES (@Dataset, @runId, @rounds, @noiseMultiplier, @Now)
            """, new { Dataset, runId, rounds, noiseMultiplier, Now = Now() }, transaction);
        transaction.Commit();
        return projection;
    }

    /// <summary>
    /// Records one released update of <paramref name="runId"/>'s round <paramref name="round"/>. Call it before the update
    /// leaves the station: it refuses a release that would take the dataset over its budget (a round beyond the run's
    /// reservation, a lower noise multiplier than reserved, or a run never reserved), and a release for an ended run.
    /// </summary>
    public PrivacyProjection Spend(string runId, int round, double noiseMultiplier)
    {
        ArgumentException.ThrowIfNullOrEmpty(runId);
        ArgumentOutOfRangeException.ThrowIfLessThan(round, 1);
        CheckNoise(noiseMultiplier);
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        var ended = connection.QuerySingleOrDefault<string?>(
            "SELECT ended_at FROM privacy_runs WHERE dataset = @Dataset AND run_id = @runId AND ended_at IS NOT NULL", new { Dataset, runId }, transaction);
        if (ended is not null) throw new InvalidOperationException($"run '{runId}' ended at {ended}: it releases nothing more");
        var (_, before) = Rhos(connection, transaction);
        connection.Execute("""
            INSERT INTO privacy_releases (dataset, run_id, round, noise_multiplier, released_at) VALUES (@Dataset, @runId, @round, @noiseMultiplier, @Now)
            """, new { Dataset, runId, round, noiseMultiplier, Now = Now() }, transaction);
        // Within its reservation a release leaves the committed total as it was; anything else raises it.
        var (_, after) = Rhos(connection, transaction);
        var projection = new PrivacyProjection(Eps(before), Eps(after), EpsilonBudget, Delta);
        if (!projection.WithinBudget)
            throw new PrivacyBudgetExceededException(
                $"the update of run '{runId}' round {round} is not released: dataset '{Dataset}' would reach ε = {F(projection.EpsilonAfter)}, over its budget ε = {F(EpsilonBudget)} (δ = {F(Delta)})", projection);
        transaction.Commit();
        return projection;
    }

    /// <summary>Ends a run: rounds it reserved but never released are given back.</summary>
    public void EndRun(string runId)
    {
        using var connection = Open();
        connection.Execute("UPDATE privacy_runs SET ended_at = @Now WHERE dataset = @Dataset AND run_id = @runId AND ended_at IS NULL",
            new { Dataset, runId, Now = Now() });
    }

    /// <summary>What each run has released and reserved, oldest first; runs that released without a reservation included.</summary>
    public IReadOnlyList<RunPrivacySpending> SpentByRun()
    {
        using var connection = Open();
        var rows = connection.Query<(string RunId, long? Rounds, double? Noise, string? Ended, long Released, double? Rho)>("""
            SELECT ids.run_id, r.rounds, r.noise_multiplier, r.ended_at,
                   (SELECT COUNT(*) FROM privacy_releases x WHERE x.dataset = @Dataset AND x.run_id = ids.run_id),
                   (SELECT SUM(1.0 / (2 * x.noise_multiplier * x.noise_multiplier)) FROM privacy_releases x WHERE x.dataset = @Dataset AND x.run_id = ids.run_id)
            FROM (SELECT run_id, MIN(t) AS first FROM (
                    SELECT run_id, reserved_at AS t FROM privacy_runs WHERE dataset = @Dataset
                    UNION ALL SELECT run_id, released_at FROM privacy_releases WHERE dataset = @Dataset) GROUP BY run_id) ids
            LEFT JOIN privacy_runs r ON r.dataset = @Dataset AND r.run_id = ids.run_id
            ORDER BY ids.first, ids.run_id
            """, new { Dataset });
        return [.. rows.Select(r => new RunPrivacySpending(r.RunId, r.Rounds is { } n ? (int)n : null, r.Noise, r.Released,
            Eps(r.Rho ?? 0), r.Ended is not null))];
    }

    /// <summary>ρ released, and ρ committed (released + unreleased reserved rounds of runs not ended).</summary>
    private (double Spent, double Committed) Rhos(SqliteConnection connection, SqliteTransaction? transaction)
    {
        var spent = connection.ExecuteScalar<double?>(
            "SELECT SUM(1.0 / (2 * noise_multiplier * noise_multiplier)) FROM privacy_releases WHERE dataset = @Dataset", new { Dataset }, transaction) ?? 0;
        var reserved = connection.ExecuteScalar<double?>("""
            SELECT SUM(MAX(0, r.rounds - (SELECT COUNT(*) FROM privacy_releases x WHERE x.dataset = r.dataset AND x.run_id = r.run_id))
                       / (2 * r.noise_multiplier * r.noise_multiplier))
            FROM privacy_runs r WHERE r.dataset = @Dataset AND r.ended_at IS NULL
            """, new { Dataset }, transaction) ?? 0;
        return (spent, spent + reserved);
    }

    private PrivacyProjection Projection(double committedRho, int releases, double noiseMultiplier) =>
        new(Eps(committedRho), Eps(committedRho + (releases == 0 ? 0 : releases * RdpAccountant.Rho([noiseMultiplier]))), EpsilonBudget, Delta);

    private double Eps(double rho) => RdpAccountant.EpsilonOfRho(rho, Delta).Epsilon;

    private static void CheckNoise(double noiseMultiplier)
    {
        if (!double.IsFinite(noiseMultiplier) || noiseMultiplier <= 0)
            throw new ArgumentOutOfRangeException(nameof(noiseMultiplier), noiseMultiplier, "a DP release needs a finite noise multiplier > 0");
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        return connection;
    }

    private static string Now() => DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture);
    private static string F(double v) => v.ToString(Math.Abs(v) is > 0 and < 0.001 ? "G3" : "0.####", CultureInfo.InvariantCulture);
}

/// <summary>A dataset's ε: its budget and δ, ε spent by released updates and ε committed including open reservations.</summary>
public sealed record PrivacyStatus(string Dataset, double EpsilonBudget, double Delta, double EpsilonSpent, double EpsilonCommitted, long Releases);

/// <summary>ε committed before and after some releases, against the budget.</summary>
public sealed record PrivacyProjection(double EpsilonCommitted, double EpsilonAfter, double EpsilonBudget, double Delta)
{
    public bool WithinBudget => EpsilonAfter <= EpsilonBudget + 1e-9;
}

/// <summary>One run's use of a dataset's budget: its reservation (if any), its releases and their ε alone.</summary>
public sealed record RunPrivacySpending(string RunId, int? RoundsReserved, double? NoiseMultiplier, long Released, double EpsilonReleased, bool Ended);

/// <summary>A run or release refused because the dataset's privacy budget cannot pay for it.</summary>
public sealed class PrivacyBudgetExceededException(string message, PrivacyProjection projection) : Exception(message)
{
    public PrivacyProjection Projection { get; } = projection;
}
