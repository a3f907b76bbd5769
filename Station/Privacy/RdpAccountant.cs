namespace HealthTrain.Station.Privacy;

/// <summary>
/// Rényi-DP accounting for the Gaussian mechanism without subsampling: each release noises one update computed from
/// the station's whole dataset (sampling rate 1), with sensitivity C and noise N(0, (z·C)²). One release has
/// RDP(α) = α / (2z²) (Mironov 2017, Prop. 7); releases compose by adding their RDP; the total converts to (ε, δ)
/// by minimising over <see cref="Orders"/>.
/// </summary>
public static class RdpAccountant
{
    /// <summary>The Rényi orders searched, as TF Privacy's and Flower's DP examples use them.</summary>
    public static readonly IReadOnlyList<double> Orders =
        [1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, .. Enumerable.Range(5, 59).Select(i => (double)i), 128, 256];

    /// <summary>RDP of one Gaussian release at order <paramref name="alpha"/> with noise multiplier <paramref name="noiseMultiplier"/>.</summary>
    public static double GaussianRdp(double alpha, double noiseMultiplier) => alpha / (2 * noiseMultiplier * noiseMultiplier);

    /// <summary>
    /// ρ such that releases with these noise multipliers have total RDP(α) = α·ρ: ρ = Σ 1/(2zᵢ²). Gaussian releases at
    /// sampling rate 1 compose exactly through it.
    /// </summary>
    public static double Rho(IEnumerable<double> noiseMultipliers) =>
        noiseMultipliers.Sum(z => z > 0 && double.IsFinite(z) ? 1 / (2 * z * z) : throw new ArgumentOutOfRangeException(nameof(noiseMultipliers), z, "a noise multiplier must be finite and > 0"));

    /// <summary>ε after <paramref name="releases"/> releases at noise multiplier <paramref name="noiseMultiplier"/>.</summary>
    public static PrivacySpent Epsilon(int releases, double noiseMultiplier, double delta, RdpConversion conversion = RdpConversion.Balle2020)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(releases);
        return EpsilonOfRho(releases == 0 ? 0 : releases * Rho([noiseMultiplier]), delta, conversion);
    }

    /// <summary>ε of releases whose total RDP is α·<paramref name="rho"/>.</summary>
    public static PrivacySpent EpsilonOfRho(double rho, double delta, RdpConversion conversion = RdpConversion.Balle2020) =>
        Epsilon(alpha => alpha * rho, delta, conversion);

    /// <summary>
    /// The smallest ε over <see cref="Orders"/> for an RDP curve, by <paramref name="conversion"/>. A curve of zero (no
    /// releases) spends nothing.
    /// </summary>
    public static PrivacySpent Epsilon(Func<double, double> rdp, double delta, RdpConversion conversion = RdpConversion.Balle2020)
    {
        if (!(delta is > 0 and < 1)) throw new ArgumentOutOfRangeException(nameof(delta), delta, "δ must be in (0, 1)");
        if (Orders.All(a => rdp(a) == 0)) return new PrivacySpent(0, delta, double.NaN);
        var best = new PrivacySpent(double.PositiveInfinity, delta, double.NaN);
        foreach (var alpha in Orders)
        {
            var epsilon = conversion switch
            {
                RdpConversion.Mironov2017 => rdp(alpha) + Math.Log(1 / delta) / (alpha - 1),
                RdpConversion.Balle2020 => rdp(alpha) + Math.Log((alpha - 1) / alpha) - (Math.Log(delta) + Math.Log(alpha)) / (alpha - 1),
                _ => throw new ArgumentOutOfRangeException(nameof(conversion)),
            };
            if (epsilon < best.Epsilon) best = new PrivacySpent(Math.Max(0, epsilon), delta, alpha);
        }
        return best;
    }
}

/// <summary>How an RDP curve becomes (ε, δ).</summary>
public enum RdpConversion
{
    /// <summary>ε = RDP(α) + log(1/δ)/(α−1) (Mironov 2017, Prop. 3).</summary>
    Mironov2017,

    /// <summary>
    /// ε = RDP(α) + log((α−1)/α) − (log δ + log α)/(α−1) (Balle et al. 2020, "Hypothesis testing interpretations and
    /// Rényi differential privacy", Thm. 21), as Opacus and TF Privacy compute it; never larger than Mironov's.
    /// </summary>
    Balle2020,
}

/// <summary>An (ε, δ) guarantee and the Rényi order that gave it (NaN when nothing was spent).</summary>
public readonly record struct PrivacySpent(double Epsilon, double Delta, double Order);
