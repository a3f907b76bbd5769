using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Merging;

/// <summary>
/// Pools the statistics results of a round's stations exactly: the pooled values equal what the
/// train would have computed over the union of the stations' data (up to floating-point rounding).
/// Where stations withheld cells (small-cell suppression), the pooled cell says so rather than pass for exact: a count is
/// the exact part plus one per withheld contribution, a lower bound, named in <see cref="PooledStatistic.Suppressed"/>
/// with the number of stations; a mean or variance is pooled over the stations that released it.
/// </summary>
public static class StatisticsPooling
{
    /// <summary>
    /// Pools <paramref name="results"/>, one per station, for every statistic the manifest declares.
    /// Each result is validated against the manifest first; an invalid one throws
    /// <see cref="ProtocolValidationException"/> naming its station.
    /// </summary>
    public static PooledStatistics Pool(TrainManifest manifest, IReadOnlyList<(string Station, StatisticsResult Result)> results)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(results);
        var stations = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (station, result) in results)
        {
            if (string.IsNullOrEmpty(station)) throw new ArgumentException("every result needs its station's name", nameof(results));
            if (!stations.Add(station)) throw new ArgumentException($"station '{station}' has more than one result", nameof(results));
            ArgumentNullException.ThrowIfNull(result);
            // The station checked its result too, but the hub pools only what it has checked itself.
            var errors = StatisticsResultValidator.Validate(manifest, result);
            if (errors.Count > 0) throw new ProtocolValidationException($"the statistics of station '{station}'", errors);
        }

        var disclosure = results.Where(r => r.Result.Disclosure is not null)
            .Select(r => new StationSuppression(r.Station, r.Result.Disclosure!.MinCellCount, r.Result.Disclosure.SuppressedCells)).ToList();
        return new PooledStatistics
        {
            Stations = [.. results.Select(r => r.Station)],
            Statistics = [.. manifest.Outputs.Statistics.Select(d => PoolOne(d, [.. results.Select(r => r.Result.Statistics[d.Name])]))],
            Disclosure = disclosure.Count > 0 ? disclosure : null,
        };
    }

    /// <summary>A count cell over every station: the released parts, plus 1 for each withheld part (never 0, so at least 1).</summary>
    private static double CountCell<T>(IReadOnlyList<StatisticValue> values, Func<StatisticValue, T?> cell, string name, Dictionary<string, int> suppressed)
        where T : struct, System.Numerics.INumber<T>
    {
        var withheld = values.Count(v => v.Suppressed?.Contains(name) == true);
        if (withheld > 0) suppressed[name] = withheld;
        return values.Where(v => v.Suppressed?.Contains(name) != true).Sum(v => double.CreateChecked(cell(v) ?? T.Zero)) + withheld;
    }

    private static PooledStatistic PoolOne(StatisticDeclaration declaration, IReadOnlyList<StatisticValue> values)
    {
        var pooled = new PooledStatistic
        {
            Name = declaration.Name,
            Kind = declaration.Kind,
            Unit = declaration.Unit,
            Description = declaration.Description,
            Stations = values.Count,
        };
        var suppressed = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = declaration.Kind switch
        {
            // Sums are never suppressed (the validator refuses it), so every contribution is a number.
            StatisticKinds.Sum when declaration.Categories is { } categories => pooled with
            {
                Categories = categories.ToDictionary(c => c, c => values.Sum(v => v.Categories![c]!.Value)),
            },
            StatisticKinds.Sum => pooled with { Value = values.Sum(v => v.Value!.Value) },
            StatisticKinds.Count when declaration.Categories is { } categories => pooled with
            {
                Categories = categories.ToDictionary(c => c, c => CountCell(values, v => v.Categories![c], SuppressedCells.Category(c), suppressed)),
            },
            StatisticKinds.Count => pooled with { Value = CountCell(values, v => v.Value, SuppressedCells.Value, suppressed) },
            StatisticKinds.Mean or StatisticKinds.Variance => PoolMoments(pooled, values, suppressed),
            StatisticKinds.Histogram => pooled with
            {
                Bins = declaration.Bins,
                Counts = [.. Enumerable.Range(0, declaration.Bins!.Count - 1)
                    .Select(i => (long)CountCell(values, v => v.Counts![i], SuppressedCells.Bin(i), suppressed))],
                Underflow = (long)CountCell(values, v => v.Underflow, SuppressedCells.Underflow, suppressed),
                Overflow = (long)CountCell(values, v => v.Overflow, SuppressedCells.Overflow, suppressed),
            },
            _ => throw new InvalidOperationException($"statistic '{declaration.Name}' has kind '{declaration.Kind}', which cannot be pooled"),
        };
        return suppressed.Count > 0 ? result with { Suppressed = suppressed } : result;
    }

    /// <summary>
    /// Combines (n, mean[, M2]) pairwise with Chan et al.'s parallel formula; stations with n = 0 contribute nothing, and
    /// stations that withheld theirs (n under their k) are counted in <paramref name="suppressed"/> instead.
    /// </summary>
    private static PooledStatistic PoolMoments(PooledStatistic pooled, IReadOnlyList<StatisticValue> values, Dictionary<string, int> suppressed)
    {
        long n = 0;
        double mean = 0, m2 = 0;
        var contributing = 0;
        var withheld = values.Count(v => v.Suppressed?.Contains(SuppressedCells.Moments) == true);
        if (withheld > 0) suppressed[SuppressedCells.Moments] = withheld;
        foreach (var v in values.Where(v => v.Suppressed?.Contains(SuppressedCells.Moments) != true))
        {
            var nb = v.N!.Value;
            if (nb == 0) continue;
            contributing++;
            var meanB = v.Mean!.Value;
            var m2B = v.M2 ?? 0; // a mean statistic carries no M2; it is then left unreported below
            var total = n + nb;
            var delta = meanB - mean;
            // nb / total is computed first so the first station's mean (weight exactly 1) is taken unrounded.
            mean += delta * ((double)nb / total);
            m2 += m2B + delta * delta * ((double)n * nb / total);
            n = total;
        }

        var isVariance = pooled.Kind == StatisticKinds.Variance;
        return pooled with
        {
            Stations = contributing,
            N = n,
            Mean = n > 0 ? mean : null,
            M2 = isVariance && n > 0 ? m2 : null,
            Variance = isVariance && n > 1 ? m2 / (n - 1) : null,
        };
    }
}
