using HealthTrain.Station.Privacy;

namespace HealthTrain.Station.Tests.Privacy;

public class RdpAccountantTests
{
    [Fact]
    public void One_release_at_noise_1_and_delta_1e_5_matches_the_hand_computed_bound()
    {
        // Balle et al. 2020 (as Opacus computes it): ε(α) = α/2 + ln((α−1)/α) − (ln δ + ln α)/(α−1), smallest at α = 5:
        // 2.5 + ln 0.8 − (ln 1e-5 + ln 5)/4 = 2.5 − 0.2231436 + 2.4758719 = 4.7527283.
        var spent = RdpAccountant.Epsilon(1, 1.0, 1e-5);
        Assert.Equal(5, spent.Order);
        Assert.Equal(2.5 + Math.Log(0.8) - (Math.Log(1e-5) + Math.Log(5)) / 4, spent.Epsilon, 12);
        Assert.Equal(4.7527283, spent.Epsilon, 6);

        // The standard bound ε(α) = α/2 + ln(1/δ)/(α−1) is smallest at α = 6: 3 + 11.5129255/5 = 5.3025851.
        var standard = RdpAccountant.Epsilon(1, 1.0, 1e-5, RdpConversion.Mironov2017);
        Assert.Equal(6, standard.Order);
        Assert.Equal(5.3025851, standard.Epsilon, 6);
    }

    [Fact]
    public void Ten_releases_at_noise_2_and_delta_1e_6_match_the_hand_computed_bound()
    {
        // RDP(α) = 10·α/8; Balle: at α = 4.5: 5.625 + ln(3.5/4.5) − (ln 1e-6 + ln 4.5)/3.5; neighbours are larger.
        double Eps(double a) => 10 * a / 8 + Math.Log((a - 1) / a) - (Math.Log(1e-6) + Math.Log(a)) / (a - 1);
        var spent = RdpAccountant.Epsilon(10, 2.0, 1e-6);
        Assert.Equal(RdpAccountant.Orders.Min(Eps), spent.Epsilon, 12);
        Assert.True(Eps(spent.Order) <= Eps(4) && Eps(spent.Order) <= Eps(5));
    }

    [Fact]
    public void Releases_compose_by_adding_their_RDP()
    {
        // Four releases at z = 2 have the RDP of one at z = 1: 4·α/(2·4) = α/2.
        Assert.Equal(RdpAccountant.Epsilon(1, 1, 1e-5).Epsilon, RdpAccountant.Epsilon(4, 2, 1e-5).Epsilon, 12);
        Assert.Equal(0.5 + 0.125 + 0.125, RdpAccountant.Rho([1, 2, 2]), 12);
        Assert.True(RdpAccountant.Epsilon(5, 1.5, 1e-5).Epsilon > RdpAccountant.Epsilon(4, 1.5, 1e-5).Epsilon);
    }

    [Fact]
    public void The_tighter_conversion_is_never_larger_and_nothing_released_costs_nothing()
    {
        foreach (var z in new[] { 0.5, 1, 3, 10 })
            Assert.True(RdpAccountant.Epsilon(3, z, 1e-5).Epsilon <= RdpAccountant.Epsilon(3, z, 1e-5, RdpConversion.Mironov2017).Epsilon);
        Assert.Equal(0, RdpAccountant.Epsilon(0, 1, 1e-5).Epsilon);
        Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.Epsilon(1, 1, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => RdpAccountant.Rho([0]));
    }

    [Fact]
    public void Searches_the_usual_orders()
    {
        Assert.Equal(1.25, RdpAccountant.Orders[0]);
        Assert.Equal(256, RdpAccountant.Orders[^1]);
        Assert.Contains(63.0, RdpAccountant.Orders);
        Assert.Equal(71, RdpAccountant.Orders.Count);
    }
}
