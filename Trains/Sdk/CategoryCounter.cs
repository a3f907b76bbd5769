using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Sdk;

/// <summary>
/// Counts occurrences per declared category. Every declared category is reported, zero or not,
/// and an undeclared one is refused at once rather than at the station's output check.
/// </summary>
public sealed class CategoryCounter
{
    private readonly string[] categories;
    private readonly Dictionary<string, long> counts = new(StringComparer.Ordinal);

    public CategoryCounter(IEnumerable<string> categories)
    {
        ArgumentNullException.ThrowIfNull(categories);
        this.categories = [.. categories];
        if (this.categories.Length == 0) throw new ArgumentException("at least one category is required", nameof(categories));
        foreach (var category in this.categories)
            if (string.IsNullOrEmpty(category) || !counts.TryAdd(category, 0))
                throw new ArgumentException($"category '{category}' is empty or repeated", nameof(categories));
    }

    public IReadOnlyList<string> Categories => categories;

    public long this[string category] => counts.TryGetValue(category, out var n) ? n : throw Undeclared(category);

    public void Add(string category)
    {
        ArgumentNullException.ThrowIfNull(category);
        if (!counts.ContainsKey(category)) throw Undeclared(category);
        counts[category]++;
    }

    /// <summary>A <c>count</c> statistic with one value per category, in declared order.</summary>
    public StatisticValue ToStatistic() => new()
    {
        Kind = StatisticKinds.Count,
        Categories = categories.ToDictionary(c => c, c => (double?)counts[c]),
    };

    private ArgumentException Undeclared(string category) =>
        new($"'{category}' is not one of the declared categories: {string.Join(", ", categories)}", nameof(category));
}
