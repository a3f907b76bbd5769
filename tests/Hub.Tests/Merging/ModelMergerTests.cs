using System.Text.Json;
using HealthTrain.Hub.Merging;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Hub.Tests.Merging;

public class ModelMergerTests : IDisposable
{
    private readonly ModelFiles files = new();

    public void Dispose() => files.Dispose();

    private (List<ModelUpdate> Updates, List<Dictionary<string, double[]>> Models) Updates(int count, int seed = 1, Func<int, long>? samples = null)
    {
        var models = Enumerable.Range(0, count).Select(k => ModelFiles.Random(seed * 100 + k)).ToList();
        var updates = models.Select((m, k) => new ModelUpdate($"hospital-{k}", files.Write($"update-{seed}-{k}.safetensors", m), samples?.Invoke(k) ?? 10 + 7 * k)).ToList();
        return (updates, models);
    }

    private static (Dictionary<string, double[]> Values, SafeTensorsHeader Header, MergeResult Result) Merge(
        MergeRequest request, int chunk = ModelMerger.DefaultChunkElements)
    {
        var output = new MemoryStream();
        var result = new ModelMerger(chunk).Merge(request, output);
        var (values, header) = ModelFiles.Read(output.ToArray());
        return (values, header, result);
    }

    /// <summary>Applies <paramref name="merge"/> to every float coordinate's values across the models; int tensors keep the first model's values.</summary>
    private static Dictionary<string, double[]> Reference(List<Dictionary<string, double[]>> models, Func<double[], double> merge) =>
        ModelFiles.Tensors.ToDictionary(t => t.Name, t => t.Dtype == "int64"
            ? models[0][t.Name]
            : Enumerable.Range(0, models[0][t.Name].Length).Select(i => merge([.. models.Select(m => m[t.Name][i])])).ToArray());

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100)]
    [InlineData(ModelMerger.DefaultChunkElements)]
    public void FedAvg_is_the_sample_weighted_mean_whatever_the_chunk_size(int chunk)
    {
        var (updates, models) = Updates(4);
        var total = updates.Sum(u => u.Samples);
        var expected = Reference(models, xs => xs.Select((x, k) => x * updates[k].Samples).Sum() / total);

        var (actual, header, result) = Merge(new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Updates = updates, Round = 3 }, chunk);

        ModelFiles.AssertClose(expected, actual);
        Assert.Equal(ModelFiles.Tensors.Select(t => t.Name), header.Tensors.Select(t => t.Name));
        Assert.Equal(total, result.Samples);
        Assert.Equal("fedavg", header.Metadata["strategy"]);
        Assert.Equal("3", header.Metadata["round"]);
        Assert.Equal(total.ToString(), header.Metadata["samples"]);
        var contributors = JsonDocument.Parse(header.Metadata["contributors"]).RootElement.EnumerateArray().ToList();
        Assert.Equal(updates.Select(u => (u.Station, u.Samples)), contributors.Select(c => (c.GetProperty("station").GetString()!, c.GetProperty("samples").GetInt64())));
    }

    [Fact]
    public void Weights_follow_the_sample_counts()
    {
        var (updates, models) = Updates(2, samples: k => k == 0 ? 1 : 3);
        var (actual, _, _) = Merge(new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Updates = updates });
        Assert.Equal(0.25 * models[0]["fc.bias"][5] + 0.75 * models[1]["fc.bias"][5], actual["fc.bias"][5], 1e-12);
    }

    [Fact]
    public void FedProx_merges_exactly_like_FedAvg_and_records_mu()
    {
        var (updates, _) = Updates(3);
        var fedavg = Merge(new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Updates = updates });
        var fedprox = Merge(new MergeRequest { Strategy = MergeStrategy.FedProx(0.01), Tensors = ModelFiles.Tensors, Updates = updates });
        foreach (var t in ModelFiles.Tensors) Assert.Equal(fedavg.Values[t.Name], fedprox.Values[t.Name]);
        Assert.Equal("""{"name":"fedprox","mu":0.01}""", fedprox.Header.Metadata["strategyParameters"]);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(11)]
    [InlineData(12)]
    public void Median_is_the_unweighted_coordinate_wise_median_for_odd_and_even_counts(int stations)
    {
        var (updates, models) = Updates(stations, seed: 2);
        var expected = Reference(models, xs =>
        {
            var s = xs.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        });
        var (actual, _, _) = Merge(new MergeRequest { Strategy = MergeStrategy.Median(), Tensors = ModelFiles.Tensors, Updates = updates }, chunk: 100);
        ModelFiles.AssertClose(expected, actual);
    }

    [Theory]
    [InlineData(0.2, 4, 0)]
    [InlineData(0.2, 5, 1)]
    [InlineData(0.2, 10, 2)]
    [InlineData(0.3, 7, 2)]
    [InlineData(0.49, 9, 4)]
    public void Trimmed_mean_drops_the_largest_and_smallest_fraction_per_coordinate(double beta, int stations, int trimmed)
    {
        var (updates, models) = Updates(stations, seed: 3);
        Assert.Equal(trimmed, MergeStrategy.TrimmedMean(beta).TrimmedPerEnd(stations));
        var expected = Reference(models, xs => xs.Order().Skip(trimmed).Take(xs.Length - 2 * trimmed).Average());
        var (actual, _, _) = Merge(new MergeRequest { Strategy = MergeStrategy.TrimmedMean(beta), Tensors = ModelFiles.Tensors, Updates = updates }, chunk: 64);
        ModelFiles.AssertClose(expected, actual);
    }

    [Fact]
    public void Trimmed_mean_and_median_ignore_one_poisoned_update_that_fedavg_follows()
    {
        var (updates, models) = Updates(5, seed: 4);
        var poisoned = models[4].ToDictionary(kv => kv.Key, kv => kv.Key == "bn.num_batches_tracked" ? kv.Value : kv.Value.Select(_ => 1e6).ToArray());
        updates[4] = updates[4] with { Path = files.Write("poisoned.safetensors", poisoned) };
        foreach (var strategy in new[] { MergeStrategy.TrimmedMean(0.2), MergeStrategy.Median() })
        {
            var (actual, _, _) = Merge(new MergeRequest { Strategy = strategy, Tensors = ModelFiles.Tensors, Updates = updates });
            Assert.All(actual["fc.weight"], v => Assert.InRange(v, -1, 1));
        }
        var (mean, _, _) = Merge(new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Updates = updates });
        Assert.All(mean["fc.weight"], v => Assert.True(v > 1000));
    }

    /// <summary>Norm bounding by hand: distances over every float tensor, the median, each difference scaled to it.</summary>
    private static List<Dictionary<string, double[]>> Bounded(List<Dictionary<string, double[]>> models, Dictionary<string, double[]> reference, out double[] scales)
    {
        var floats = ModelFiles.Tensors.Where(t => t.Dtype != "int64").ToList();
        var distances = models.Select(m => Math.Sqrt(floats.Sum(t => m[t.Name].Select((v, i) => (v - reference[t.Name][i]) * (v - reference[t.Name][i])).Sum()))).ToArray();
        var sorted = distances.Order().ToArray();
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        var factors = distances.Select(d => d > median ? median / d : 1).ToArray();
        scales = factors;
        return [.. models.Select((m, k) => m.ToDictionary(kv => kv.Key, kv => floats.Any(t => t.Name == kv.Key)
            ? kv.Value.Select((v, i) => reference[kv.Key][i] + factors[k] * (v - reference[kv.Key][i])).ToArray()
            : kv.Value))];
    }

    [Theory]
    [InlineData("fedavg", 1)]
    [InlineData("fedavg", 64)]
    [InlineData("median", 100)]
    [InlineData("trimmed-mean", 7)]
    public void Norm_bounding_scales_each_update_to_the_median_distance_from_the_global_model_first(string strategy, int chunk)
    {
        var (updates, models) = Updates(5, seed: 6);
        var global = ModelFiles.Random(77);
        var globalPath = files.Write("global.safetensors", global);
        // One update far away: ten times the others' spread.
        models[2] = models[2].ToDictionary(kv => kv.Key, kv => kv.Key == "bn.num_batches_tracked" ? kv.Value : kv.Value.Select(v => v * 10).ToArray());
        updates[2] = updates[2] with { Path = files.Write("far.safetensors", models[2]) };
        var bounded = Bounded(models, global, out var scales);
        var total = updates.Sum(u => u.Samples);
        var plain = new MergeStrategy { Name = strategy, TrimFraction = strategy == "trimmed-mean" ? 0.2 : null };
        var expected = strategy switch
        {
            "fedavg" => Reference(bounded, xs => xs.Select((x, k) => x * updates[k].Samples).Sum() / total),
            "median" => Reference(bounded, xs => xs.Order().ElementAt(2)),
            _ => Reference(bounded, xs => xs.Order().Skip(1).Take(3).Average()),
        };

        var (actual, header, result) = Merge(new MergeRequest
        {
            Strategy = plain with { NormBound = true }, Tensors = ModelFiles.Tensors, Updates = updates, Round = 2, GlobalModelPath = globalPath,
        }, chunk);

        // The factors come from float32 sums of squares: float64 tensors agree to about 1e-7 relative.
        ModelFiles.AssertClose(expected, actual, float32Tolerance: 1e-5, float64Tolerance: 1e-6);
        Assert.Equal("global", result.NormBound!.Reference);
        Assert.Equal(scales, result.NormBound.Stations.Select(s => s.Scale), (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.True(result.NormBound.Stations[2].Scale < 0.2, "the far update is scaled down");
        Assert.Equal(3, scales.Count(f => f == 1)); // the median one and those nearer keep their values
        var recorded = JsonDocument.Parse(header.Metadata["normBound"]).RootElement;
        Assert.Equal("hospital-2", recorded.GetProperty("stations")[2].GetProperty("station").GetString());
        Assert.True(JsonDocument.Parse(header.Metadata["strategyParameters"]).RootElement.GetProperty("normBound").GetBoolean());
    }

    [Fact]
    public void Norm_bounding_without_a_global_model_measures_from_the_coordinate_wise_median()
    {
        var (updates, models) = Updates(4, seed: 8);
        var median = Reference(models, xs => { var s = xs.Order().ToArray(); return (s[1] + s[2]) / 2; });
        var bounded = Bounded(models, median, out _);
        var total = updates.Sum(u => u.Samples);
        var expected = Reference(bounded, xs => xs.Select((x, k) => x * updates[k].Samples).Sum() / total);

        var (actual, _, result) = Merge(new MergeRequest { Strategy = MergeStrategy.FedAvg() with { NormBound = true }, Tensors = ModelFiles.Tensors, Updates = updates }, chunk: 50);

        // The factors come from float32 sums of squares: float64 tensors agree to about 1e-7 relative.
        ModelFiles.AssertClose(expected, actual, float32Tolerance: 1e-5, float64Tolerance: 1e-6);
        Assert.Equal("median", result.NormBound!.Reference);
    }

    [Fact]
    public void Norm_bounding_takes_the_sting_out_of_a_scaled_update_for_fedavg()
    {
        var (updates, models) = Updates(5, seed: 9);
        var global = models[0];
        var poisoned = models[4].ToDictionary(kv => kv.Key, kv => kv.Key == "bn.num_batches_tracked" ? kv.Value : kv.Value.Select(v => v * 100).ToArray());
        updates[4] = updates[4] with { Path = files.Write("x100.safetensors", poisoned) };
        var request = new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Updates = updates, GlobalModelPath = files.Write("g.safetensors", global) };

        var (plain, _, _) = Merge(request);
        var (bounded, _, _) = Merge(request with { Strategy = MergeStrategy.FedAvg() with { NormBound = true } });

        Assert.Contains(plain["fc.weight"], v => Math.Abs(v) > 5);
        Assert.All(bounded["fc.weight"], v => Assert.InRange(v, -2, 2));
    }

    /// <summary>Smoothed Weiszfeld by hand over <paramref name="models"/> with sample weights from <paramref name="updates"/>: the final weights.</summary>
    private static double[] Weiszfeld(List<Dictionary<string, double[]>> models, List<ModelUpdate> updates)
    {
        var floats = ModelFiles.Tensors.Where(t => t.Dtype != "int64").ToList();
        var total = (double)updates.Sum(u => u.Samples);
        var alpha = updates.Select(u => u.Samples / total).ToArray();
        var beta = (double[])alpha.Clone();
        var objective = double.PositiveInfinity;
        for (var iteration = 0; iteration < MergeStrategy.GeometricMedianIterations; iteration++)
        {
            var z = Reference(models, xs => xs.Select((x, k) => x * beta[k]).Sum());
            var d = models.Select(m => Math.Sqrt(floats.Sum(t => m[t.Name].Select((v, i) => (v - z[t.Name][i]) * (v - z[t.Name][i])).Sum()))).ToArray();
            var next = alpha.Select((a, k) => a * d[k]).Sum();
            beta = [.. alpha.Select((a, k) => a / Math.Max(MergeStrategy.GeometricMedianSmoothing, d[k]))];
            var sum = beta.Sum();
            beta = [.. beta.Select(b => b / sum)];
            if (objective - next <= 1e-6 * next) break;
            objective = next;
        }
        return beta;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    public void Geometric_median_matches_a_hand_written_weiszfeld(int chunk)
    {
        var (updates, models) = Updates(5, seed: 11);
        var beta = Weiszfeld(models, updates);
        var expected = Reference(models, xs => xs.Select((x, k) => x * beta[k]).Sum());

        var (actual, header, result) = Merge(new MergeRequest { Strategy = MergeStrategy.GeometricMedian(), Tensors = ModelFiles.Tensors, Updates = updates }, chunk);

        ModelFiles.AssertClose(expected, actual, float32Tolerance: 1e-5, float64Tolerance: 1e-6);
        Assert.Equal(beta, result.GeometricMedian!.Stations.Select(s => s.Weight), (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.Contains("\"iterations\"", header.Metadata["geometricMedian"]);
    }

    [Fact]
    public void Geometric_median_with_norm_bounding_is_the_weiszfeld_point_of_the_bounded_updates()
    {
        var (updates, models) = Updates(4, seed: 13);
        var global = ModelFiles.Random(78);
        var bounded = Bounded(models, global, out _);
        var beta = Weiszfeld(bounded, updates);

        var (actual, _, result) = Merge(new MergeRequest
        {
            Strategy = MergeStrategy.GeometricMedian() with { NormBound = true }, Tensors = ModelFiles.Tensors, Updates = updates,
            GlobalModelPath = files.Write("global-gm.safetensors", global),
        }, chunk: 64);

        ModelFiles.AssertClose(Reference(bounded, xs => xs.Select((x, k) => x * beta[k]).Sum()), actual, float32Tolerance: 1e-5, float64Tolerance: 1e-6);
        Assert.Equal(beta, result.GeometricMedian!.Stations.Select(s => s.Weight), (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Fact]
    public void Geometric_median_gives_a_far_away_station_almost_no_weight()
    {
        var (updates, models) = Updates(5, seed: 12);
        var poisoned = models[3].ToDictionary(kv => kv.Key, kv => kv.Key == "bn.num_batches_tracked" ? kv.Value : kv.Value.Select(v => v * 100).ToArray());
        updates[3] = updates[3] with { Path = files.Write("far.safetensors", poisoned) };

        var (actual, _, result) = Merge(new MergeRequest { Strategy = MergeStrategy.GeometricMedian(), Tensors = ModelFiles.Tensors, Updates = updates });

        Assert.True(result.GeometricMedian!.Stations[3].Weight < 0.02, $"weight {result.GeometricMedian.Stations[3].Weight}");
        Assert.All(actual["fc.weight"], v => Assert.InRange(v, -2, 2));
    }

    [Fact]
    public void FedAdam_over_two_rounds_matches_a_hand_written_reference()
    {
        var strategy = MergeStrategy.FedAdam(serverLearningRate: 0.05, beta1: 0.8, beta2: 0.95, tau: 1e-2);
        var seed = ModelFiles.Random(7);
        var globalPath = files.Write("global-0.safetensors", seed);
        var (round1, models1) = Updates(3, seed: 5);
        var (round2, models2) = Updates(3, seed: 6, samples: k => 5 + k);

        // Reference, per coordinate, straight from the paper's update rule.
        var g = seed.ToDictionary(kv => kv.Key, kv => (double[])kv.Value.Clone());
        var m = ModelFiles.Tensors.ToDictionary(t => t.Name, t => new double[ModelFiles.Elements(t)]);
        var v = ModelFiles.Tensors.ToDictionary(t => t.Name, t => new double[ModelFiles.Elements(t)]);
        var expected = new List<Dictionary<string, double[]>>();
        foreach (var (updates, models) in new[] { (round1, models1), (round2, models2) })
        {
            double total = updates.Sum(u => u.Samples);
            foreach (var t in ModelFiles.Tensors.Where(t => t.Dtype != "int64"))
            {
                for (var i = 0; i < g[t.Name].Length; i++)
                {
                    var mean = 0.0;
                    for (var k = 0; k < models.Count; k++) mean += updates[k].Samples / total * models[k][t.Name][i];
                    var delta = mean - g[t.Name][i];
                    m[t.Name][i] = 0.8 * m[t.Name][i] + 0.2 * delta;
                    v[t.Name][i] = 0.95 * v[t.Name][i] + 0.05 * delta * delta;
                    g[t.Name][i] += 0.05 * m[t.Name][i] / (Math.Sqrt(v[t.Name][i]) + 1e-2);
                }
            }
            expected.Add(g.ToDictionary(kv => kv.Key, kv => (double[])kv.Value.Clone()));
        }

        var merger = new ModelMerger(chunkElements: 50);
        string? statePath = null;
        for (var round = 1; round <= 2; round++)
        {
            var outPath = Path.Combine(files.Dir, $"global-{round}.safetensors");
            var newState = Path.Combine(files.Dir, $"state-{round}.safetensors");
            using (var output = File.Create(outPath))
            using (var state = File.Create(newState))
            {
                var result = merger.Merge(new MergeRequest
                {
                    Strategy = strategy, Tensors = ModelFiles.Tensors, Updates = round == 1 ? round1 : round2,
                    Round = round, GlobalModelPath = globalPath, StatePath = statePath,
                }, output, state);
                Assert.True(result.WroteState);
            }
            ModelFiles.AssertClose(expected[round - 1], ModelFiles.Read(outPath).Values, float32Tolerance: 1e-5, float64Tolerance: 1e-10);
            (globalPath, statePath) = (outPath, newState);
        }

        var (stateValues, stateHeader) = ModelFiles.Read(statePath!);
        Assert.Equal(["m/conv.weight", "v/conv.weight", "m/fc.weight", "v/fc.weight", "m/fc.bias", "v/fc.bias"], stateHeader.Tensors.Select(t => t.Name));
        Assert.Equal("2", stateHeader.Metadata["round"]);
        for (var i = 0; i < m["fc.bias"].Length; i++)
        {
            Assert.Equal(m["fc.bias"][i], stateValues["m/fc.bias"][i], 1e-12);
            Assert.Equal(v["fc.bias"][i], stateValues["v/fc.bias"][i], 1e-12);
        }
        Assert.Equal(42, ModelFiles.Read(globalPath!).Values["bn.num_batches_tracked"][0]);
    }

    [Fact]
    public void FedAdam_without_a_global_model_takes_the_weighted_mean_and_starts_its_moments_at_zero()
    {
        var (updates, _) = Updates(3);
        var fedavg = Merge(new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Updates = updates });
        var statePath = Path.Combine(files.Dir, "state.safetensors");
        var output = new MemoryStream();
        using (var state = File.Create(statePath))
            new ModelMerger().Merge(new MergeRequest { Strategy = MergeStrategy.FedAdam(), Tensors = ModelFiles.Tensors, Updates = updates }, output, state);

        var adam = ModelFiles.Read(output.ToArray()).Values;
        foreach (var t in ModelFiles.Tensors) Assert.Equal(fedavg.Values[t.Name], adam[t.Name]);
        Assert.All(ModelFiles.Read(statePath).Values.Values.SelectMany(x => x), x => Assert.Equal(0, x));
    }

    [Fact]
    public void Refuses_updates_that_do_not_match_the_declared_tensors_naming_each_station()
    {
        var (updates, models) = Updates(3);
        var wrongShape = new[] { ModelFiles.Tensors[0] with { Shape = [7, 3] } }.Concat(ModelFiles.Tensors.Skip(1)).ToArray();
        updates[1] = updates[1] with { Path = files.Write("wrong-shape.safetensors", models[1], wrongShape) };
        var extra = ModelFiles.Tensors.Append(new TensorDeclaration { Name = "extra", Shape = [2], Dtype = "float32" }).ToArray();
        updates[2] = updates[2] with { Path = files.Write("extra.safetensors", models[2].Append(new("extra", [1, 2])).ToDictionary(), extra) };
        var output = new MemoryStream();

        var e = Assert.Throws<ModelMergeException>(() => new ModelMerger().Merge(
            new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Updates = updates }, output));

        Assert.Equal(["station 'hospital-1': tensor 'conv.weight' has shape [7, 3], declared [3, 7]", "station 'hospital-2': tensor 'extra float32[2]' is not declared"], e.Problems);
        Assert.Equal(0, output.Length);
    }

    [Fact]
    public void Refuses_a_NaN_in_a_later_chunk_naming_station_tensor_and_element()
    {
        var (updates, models) = Updates(2);
        models[1]["fc.weight"][777] = double.NaN;
        updates[1] = updates[1] with { Path = files.Write("nan.safetensors", models[1]) };
        var e = Assert.Throws<ModelMergeException>(() => new ModelMerger(chunkElements: 100).Merge(
            new MergeRequest { Strategy = MergeStrategy.Median(), Tensors = ModelFiles.Tensors, Updates = updates }, new MemoryStream()));
        Assert.Equal("station 'hospital-1': tensor 'fc.weight' holds 1 NaN and 0 infinite value(s) (first at element 777)", Assert.Single(e.Problems));
    }

    [Theory]
    [InlineData(MergeStrategy.FedAvgName)]
    [InlineData(MergeStrategy.FedAdamName)]
    public void Refuses_an_infinity_in_a_mean_naming_every_station_that_holds_one(string strategy)
    {
        var (updates, models) = Updates(3);
        models[0]["fc.bias"][200] = double.NegativeInfinity;
        models[2]["fc.bias"][201] = double.PositiveInfinity;
        updates[0] = updates[0] with { Path = files.Write("inf-0.safetensors", models[0]) };
        updates[2] = updates[2] with { Path = files.Write("inf-2.safetensors", models[2]) };
        var e = Assert.Throws<ModelMergeException>(() => new ModelMerger(chunkElements: 64).Merge(
            new MergeRequest { Strategy = new MergeStrategy { Name = strategy }, Tensors = ModelFiles.Tensors, Updates = updates }, new MemoryStream(),
            strategy == MergeStrategy.FedAdamName ? new MemoryStream() : null));
        Assert.Equal(
            ["station 'hospital-0': tensor 'fc.bias' holds 0 NaN and 1 infinite value(s) (first at element 200)",
             "station 'hospital-2': tensor 'fc.bias' holds 0 NaN and 1 infinite value(s) (first at element 201)"],
            e.Problems);
    }

    [Fact]
    public void Refuses_integer_tensors_that_differ_between_updates()
    {
        var (updates, models) = Updates(3);
        models[2]["bn.num_batches_tracked"][0] = 43;
        updates[2] = updates[2] with { Path = files.Write("steps.safetensors", models[2]) };
        var e = Assert.Throws<ModelMergeException>(() => new ModelMerger().Merge(
            new MergeRequest { Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Updates = updates }, new MemoryStream()));
        Assert.Contains("tensor 'bn.num_batches_tracked' is int64, which is not merged but carried over, and station 'hospital-2' differs from station 'hospital-0' (first at element 0)", e.Message);
    }

    [Fact]
    public void Refuses_half_precision_declarations_and_unreadable_files()
    {
        Assert.Equal(["tensor 'h' is float16: only float32 and float64 tensors are merged (integer and bool ones are carried over); declare it float32"],
            ModelMerger.CheckDeclaration([new TensorDeclaration { Name = "h", Shape = [2], Dtype = "float16" }]));
        var e = Assert.Throws<ModelMergeException>(() => new ModelMerger().Merge(new MergeRequest
        {
            Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors,
            Updates = [new ModelUpdate("hospital-a", Path.Combine(files.Dir, "absent.safetensors"), 3)],
        }, new MemoryStream()));
        Assert.StartsWith("station 'hospital-a': cannot be read", Assert.Single(e.Problems));
    }

    [Fact]
    public void Refuses_inconsistent_requests_with_every_reason()
    {
        var (updates, _) = Updates(2);
        var e = Assert.Throws<ArgumentException>(() => new ModelMerger().Merge(new MergeRequest
        {
            Strategy = MergeStrategy.FedAvg(), Tensors = ModelFiles.Tensors, Round = 0, StatePath = "x",
            Updates = [updates[0], updates[0] with { Samples = 0 }],
        }, new MemoryStream(), new MemoryStream()));
        Assert.Contains("round must be ≥ 1", e.Message);
        Assert.Contains("station 'hospital-0' has more than one update", e.Message);
        Assert.Contains("station 'hospital-0' reports 0 samples", e.Message);
        Assert.Contains("fedavg keeps no state: pass no state output", e.Message);
        Assert.Contains("fedavg keeps no state: pass no state path", e.Message);

        var adam = Assert.Throws<ArgumentException>(() => new ModelMerger().Merge(new MergeRequest
        {
            Strategy = MergeStrategy.FedAdam(), Tensors = ModelFiles.Tensors, Updates = updates, StatePath = "state",
        }, new MemoryStream()));
        Assert.Contains("pass a state output stream", adam.Message);
        Assert.Contains("fedadam state was given without the global model", adam.Message);

        Assert.Contains("unknown merge strategy 'fedsgd'", Assert.Throws<ArgumentException>(() => new ModelMerger().Merge(
            new MergeRequest { Strategy = new MergeStrategy { Name = "fedsgd" }, Tensors = ModelFiles.Tensors, Updates = updates }, new MemoryStream())).Message);
    }

    [Fact]
    public void Refuses_fedadam_state_that_does_not_belong_to_the_model()
    {
        var (updates, models) = Updates(2);
        var globalPath = files.Write("global.safetensors", models[0]);
        var statePath = files.Write("not-state.safetensors", models[1]);
        var e = Assert.Throws<ModelMergeException>(() => new ModelMerger().Merge(new MergeRequest
        {
            Strategy = MergeStrategy.FedAdam(), Tensors = ModelFiles.Tensors, Updates = updates, GlobalModelPath = globalPath, StatePath = statePath,
        }, new MemoryStream(), new MemoryStream()));
        Assert.Contains("fedadam state: declared tensor 'm/conv.weight' is missing", e.Problems);
    }
}
