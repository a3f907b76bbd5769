using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Merging;

/// <summary>
/// Pools the statistics results of a round's stations exactly: the pooled values equal what the
/// train would have computed over the union of the stations' data (up to floating-point rounding).
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

        return new PooledStatistics
        {
            Stations = [.. results.Select(r => r.Station)],
            Statistics = [.. manifest.Outputs.Statistics.Select(d => PoolOne(d, [.. results.Select(r => r.Result.Statistics[d.Name])]))],
        };
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
        return declaration.Kind switch
        {
            StatisticKinds.Count or StatisticKinds.Sum when declaration.Categories is { } categories => pooled with
            {
                Categories = categories.ToDictionary(c => c, c => values.Sum(v => v.Categories![c])),
            },
            StatisticKinds.Count or StatisticKinds.Sum => pooled with { Value = values.Sum(v => v.Value!.Value) },
            StatisticKinds.Mean or StatisticKinds.Variance => PoolMoments(pooled, values),
            StatisticKinds.Histogram => pooled with
            {
                Bins = declaration.Bins,
                Counts = [.. Enumerable.Range(0, declaration.Bins!.Count - 1).Select(i => values.Sum(v => v.Counts![i]))],
                Underflow = values.Sum(v => v.Underflow ?? 0),
                Overflow = values.Sum(v => v.Overflow ?? 0),
            },
            _ => throw new InvalidOperationException($"statistic '{declaration.Name}' has kind '{declaration.Kind}', which cannot be pooled"),
        };
    }

    /// <summary>Combines (n, mean[, M2]) pairwise with Chan et al.'s parallel formula; stations with n = 0 contribute nothing.</summary>
    private static PooledStatistic PoolMoments(PooledStatistic pooled, IReadOnlyList<StatisticValue> values)
    {
        long n = 0;
        double mean = 0, m2 = 0;
        var contributing = 0;
        foreach (var v in values)
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
