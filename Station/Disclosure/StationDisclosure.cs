using Dapper;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Disclosure;

/// <summary>
/// Applies this station's small-cell suppression (<c>Station:Disclosure</c>) to every statistics result before it leaves,
/// and records each release and every cell withheld in the station's database and log.
/// </summary>
public sealed class StationDisclosure(StationOptions options, StationDatabase db, ILogger<StationDisclosure> log)
{
    /// <summary>The k this station applies; 1 or less is off.</summary>
    public int MinCellCount => options.Disclosure.MinCellCount;

    /// <summary>Why this station will not run the train (it declares sums, which suppression cannot check), or null.</summary>
    public string? WhyRefused(TrainManifest manifest) => CellSuppression.WhyRefused(manifest, MinCellCount);

    /// <summary>The result as it may leave the station: suppressed under k, with the record of what was withheld.</summary>
    public StatisticsResult Release(JobAssignment job, TrainManifest manifest, StatisticsResult result)
    {
        var (released, cells) = CellSuppression.Apply(manifest, result, MinCellCount);
        using (var c = db.Open())
        using (var tx = c.BeginTransaction())
        {
            // A job released again (its upload retried after a restart) keeps only its latest record; children go first.
            c.Execute("DELETE FROM suppressed_cells WHERE job_id = @JobId", new { job.JobId }, tx);
            c.Execute("""
                INSERT OR REPLACE INTO statistics_releases (job_id, run_id, round, train, version, min_cell_count, suppressed_cells, released_at)
                VALUES (@JobId, @RunId, @Round, @TrainName, @TrainVersion, @k, @count, @now)
                """, new { job.JobId, job.RunId, job.Round, job.TrainName, job.TrainVersion, k = MinCellCount, count = cells.Count, now = DateTimeOffset.UtcNow }, tx);
            c.Execute("INSERT INTO suppressed_cells (job_id, statistic, cell, reason) VALUES (@JobId, @Statistic, @Cell, @Reason)",
                cells.Select(cell => new { job.JobId, cell.Statistic, cell.Cell, cell.Reason }), tx);
            tx.Commit();
        }
        if (cells.Count == 0)
            log.LogInformation("job {Job}: no cell under the minimum cell count {K} to suppress", job.JobId, MinCellCount);
        else
            log.LogInformation("job {Job}: suppressed {Count} cells under the minimum cell count {K}: {Cells}", job.JobId, cells.Count, MinCellCount,
                string.Join(", ", cells.Select(cell => $"{cell.Statistic}.{cell.Cell} ({cell.Reason})")));
        return released;
    }

    /// <summary>What the station recorded for one job's release: its k and the cells withheld, or null if it released none.</summary>
    public (int MinCellCount, IReadOnlyList<SuppressedCell> Cells)? RecordOf(long jobId)
    {
        using var c = db.Open();
        var k = c.QuerySingleOrDefault<int?>("SELECT min_cell_count FROM statistics_releases WHERE job_id = @jobId", new { jobId });
        if (k is null) return null;
        var cells = c.Query<SuppressedCell>("SELECT statistic, cell, reason FROM suppressed_cells WHERE job_id = @jobId ORDER BY id", new { jobId }).ToList();
        return (k.Value, cells);
    }
}
