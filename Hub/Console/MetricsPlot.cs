using static HealthTrain.Hub.Console.Markup;

namespace HealthTrain.Hub.Console;

/// <summary>One model version's place in a plot: its round and its merged metrics.</summary>
public sealed record RoundMetrics(int Round, IReadOnlyDictionary<string, double> Metrics);

/// <summary>
/// Inline SVG line plots of a run's metrics per round: one small panel per metric (AUROC and loss live on different
/// scales), each point a circle carrying its round and value, the version on show drawn larger.
/// </summary>
public static class MetricsPlot
{
    private const double Width = 340, Height = 180, Left = 56, Right = 14, Top = 28, Bottom = 30;

    public static Markup Render(IReadOnlyList<RoundMetrics> rounds, int? highlightRound = null)
    {
        var names = rounds.SelectMany(r => r.Metrics.Keys).Distinct().Order(StringComparer.Ordinal).ToList();
        if (names.Count == 0) return Html($"<p class=\"muted\">No metrics were reported for this run.</p>");
        return Html($"<div class=\"plots\">{names.Select(name => Panel(name, rounds, highlightRound))}</div>");
    }

    /// <summary>The panel of one metric: the points of the rounds that reported it, in round order.</summary>
    public static Markup Panel(string metric, IReadOnlyList<RoundMetrics> rounds, int? highlightRound)
    {
        var points = rounds.Where(r => r.Metrics.TryGetValue(metric, out var v) && double.IsFinite(v))
            .Select(r => (r.Round, Value: r.Metrics[metric])).OrderBy(p => p.Round).ToList();
        if (points.Count == 0) return Markup.Empty;
        var (xMin, xMax) = (points[0].Round, points[^1].Round);
        var (yMin, yMax) = (points.Min(p => p.Value), points.Max(p => p.Value));
        if (yMax - yMin < 1e-12)
        {
            var pad = Math.Abs(yMin) > 1e-12 ? Math.Abs(yMin) * 0.1 : 0.5;
            (yMin, yMax) = (yMin - pad, yMax + pad);
        }
        double X(int round) => xMax == xMin ? Left + (Width - Left - Right) / 2 : Left + (round - xMin) * (Width - Left - Right) / (xMax - xMin);
        double Y(double value) => Top + (yMax - value) * (Height - Top - Bottom) / (yMax - yMin);

        var line = string.Join(" ", points.Select(p => $"{F(X(p.Round))},{F(Y(p.Value))}"));
        var step = Math.Max(1, (int)Math.Ceiling((xMax - xMin + 1) / 10.0));
        var xTicks = Enumerable.Range(xMin, xMax - xMin + 1).Where(r => (r - xMin) % step == 0)
            .Select(r => Html($"<text x=\"{F(X(r))}\" y=\"{F(Height - Bottom + 16)}\" text-anchor=\"middle\">{r}</text>"));
        var yTicks = new[] { yMin, (yMin + yMax) / 2, yMax }
            .Select(v => Html($"<text x=\"{F(Left - 6)}\" y=\"{F(Y(v) + 4)}\" text-anchor=\"end\">{Number(v)}</text><line class=\"grid\" x1=\"{F(Left)}\" x2=\"{F(Width - Right)}\" y1=\"{F(Y(v))}\" y2=\"{F(Y(v))}\"/>"));
        var circles = points.Select(p => Html($"""
            <circle class="point{(p.Round == highlightRound ? " current" : "")}" data-round="{p.Round}" data-value="{p.Value:R}" cx="{F(X(p.Round))}" cy="{F(Y(p.Value))}" r="{(p.Round == highlightRound ? "5.5" : "3.5")}"><title>round {p.Round}: {metric} = {Number(p.Value)}</title></circle>
            """));
        return Html($"""
            <svg class="plot" data-metric="{metric}" xmlns="http://www.w3.org/2000/svg" width="{F(Width)}" height="{F(Height)}" viewBox="0 0 {F(Width)} {F(Height)}" role="img" aria-label="{metric} per round">
            <text class="title" x="{F(Left)}" y="16">{metric}</text>
            {yTicks}
            <line class="axis" x1="{F(Left)}" y1="{F(Height - Bottom)}" x2="{F(Width - Right)}" y2="{F(Height - Bottom)}"/>
            <line class="axis" x1="{F(Left)}" y1="{F(Top)}" x2="{F(Left)}" y2="{F(Height - Bottom)}"/>
            {xTicks}
            <text x="{F(Width - Right)}" y="{F(Height - 2)}" text-anchor="end">round</text>
            <polyline class="series" fill="none" points="{line}"/>
            {circles}
            </svg>
            """);
    }

    private static string F(double v) => v.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);

    private static string Number(double v) => v.ToString(Math.Abs(v) >= 1000 ? "0" : "0.####", System.Globalization.CultureInfo.InvariantCulture);
}
