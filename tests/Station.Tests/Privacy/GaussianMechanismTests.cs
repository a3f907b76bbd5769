using System.Runtime.InteropServices;
using HealthTrain.Station.Privacy;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Station.Tests.Privacy;

public class GaussianMechanismTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ht-dp-test-").FullName;

    private static readonly TensorDeclaration[] Tensors =
    [
        new() { Name = "w", Shape = [3, 50], Dtype = "float32" },
        new() { Name = "b", Shape = [7], Dtype = "float64" },
    ];

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Write(string name, float[] w, double[] b, IReadOnlyList<TensorDeclaration>? tensors = null)
    {
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, SafeTensors.ToBytes([
            SafeTensors.Float32("w", (tensors ?? Tensors)[0].Shape, w),
            new SafeTensor("b", "float64", [7], MemoryMarshal.AsBytes(b.AsSpan()).ToArray())]));
        return path;
    }

    private static (float[] W, double[] B, SafeTensorsHeader Header) Read(byte[] doc)
    {
        var header = SafeTensors.ReadHeader(doc);
        var b = header.Find("b")!;
        return (SafeTensors.ReadFloat32(doc, header, "w"),
            MemoryMarshal.Cast<byte, double>(doc.AsSpan((int)(header.DataStart + b.Offset), (int)b.Length)).ToArray(), header);
    }

    private static GaussianNoise Seeded(int seed)
    {
        var random = new Random(seed);
        return new GaussianNoise(random.NextBytes);
    }

    private static PrivacyOptions Options(double clip, double noise) => new() { ClipNorm = clip, NoiseMultiplier = noise, Delta = 1e-5, EpsilonBudget = 10 };

    [Fact]
    public void Clips_the_difference_from_the_global_model_over_all_tensors_to_the_clip_norm()
    {
        var global = Write("global", [.. Enumerable.Range(0, 150).Select(i => i * 0.01f)], [.. Enumerable.Range(0, 7).Select(i => -i * 1.0)]);
        // Difference: 3 in every float32 coordinate and 4 in every float64 one: norm² = 150·9 + 7·16 = 1462.
        var update = Write("update", [.. Enumerable.Range(0, 150).Select(i => i * 0.01f + 3)], [.. Enumerable.Range(0, 7).Select(i => -i + 4.0)]);
        var output = new MemoryStream();

        var release = new GaussianMechanism(Options(clip: 2, noise: 1e-9), Seeded(1)).Release(Tensors, update, global, output);

        Assert.Equal(Math.Sqrt(1462), release.UpdateNorm, 9);
        Assert.True(release.Clipped);
        var scale = 2 / Math.Sqrt(1462);
        Assert.Equal(scale, release.ClipScale, 12);
        var (w, b, header) = Read(output.ToArray());
        for (var i = 0; i < 150; i++) Assert.Equal(i * 0.01f + 3 * scale, w[i], 5);
        for (var i = 0; i < 7; i++) Assert.Equal(-i + 4 * scale, b[i], 8);
        var clippedNorm = Math.Sqrt(w.Select((x, i) => Math.Pow(x - i * 0.01f, 2)).Sum() + b.Select((x, i) => Math.Pow(x + i, 2)).Sum());
        Assert.Equal(2, clippedNorm, 4);
        Assert.Equal(["w", "b"], header.Tensors.Select(t => t.Name));
        Assert.Equal("global", header.Metadata["dp.reference"]);
        Assert.Equal("2", header.Metadata["dp.clipNorm"]);
        Assert.False(header.Metadata.ContainsKey("dp.updateNorm"));
    }

    [Fact]
    public void Leaves_a_difference_within_the_clip_norm_unscaled()
    {
        var global = Write("global", new float[150], new double[7]);
        var update = Write("update", [.. Enumerable.Repeat(0.01f, 150)], new double[7]);
        var release = new GaussianMechanism(Options(clip: 10, noise: 1e-9), Seeded(1)).Release(Tensors, update, global, new MemoryStream());
        Assert.False(release.Clipped);
        Assert.Equal(1, release.ClipScale);
    }

    [Fact]
    public void Without_a_global_model_clips_the_weights_themselves()
    {
        var update = Write("update", [.. Enumerable.Repeat(1f, 150)], [.. Enumerable.Repeat(1.0, 7)]);
        var output = new MemoryStream();
        var release = new GaussianMechanism(Options(clip: 1, noise: 1e-9), Seeded(1)).Release(Tensors, update, null, output);
        Assert.Equal(Math.Sqrt(157), release.UpdateNorm, 9);
        var (w, _, header) = Read(output.ToArray());
        Assert.Equal(1 / Math.Sqrt(157), w[0], 5);
        Assert.Equal("zero", header.Metadata["dp.reference"]);
    }

    [Fact]
    public void Adds_zero_mean_noise_with_standard_deviation_noise_multiplier_times_clip_norm()
    {
        var big = new[] { new TensorDeclaration { Name = "w", Shape = [200_000], Dtype = "float32" }, Tensors[1] };
        var global = Write("global", new float[200_000], new double[7], big);
        var output = new MemoryStream();
        var release = new GaussianMechanism(Options(clip: 0.5, noise: 3), Seeded(7)).Release(big, global, global, output);

        Assert.Equal(1.5, release.NoiseStandardDeviation);
        var (w, _, _) = Read(output.ToArray());
        var mean = w.Average(x => (double)x);
        var sd = Math.Sqrt(w.Sum(x => (x - mean) * (x - mean)) / (w.Length - 1));
        // Standard errors: mean 1.5/√n ≈ 0.0034, sd ≈ 1.5/√(2n) ≈ 0.0024; bounds at about 6 of them.
        Assert.InRange(mean, -0.02, 0.02);
        Assert.InRange(sd, 1.485, 1.515);
        // Tails as a normal's: about 4.55 % beyond 2 sd.
        Assert.InRange(w.Count(x => Math.Abs(x) > 3.0) / (double)w.Length, 0.043, 0.048);
    }

    [Fact]
    public void Noise_comes_from_the_system_generator_by_default_and_differs_between_releases()
    {
        var global = Write("global", new float[150], new double[7]);
        var mechanism = new GaussianMechanism(Options(clip: 1, noise: 1));
        var first = new MemoryStream();
        var second = new MemoryStream();
        mechanism.Release(Tensors, global, global, first);
        mechanism.Release(Tensors, global, global, second);
        Assert.NotEqual(Read(first.ToArray()).W, Read(second.ToArray()).W);
        // A seeded source reproduces its draws: the seed, not the clock, decides.
        var a = new MemoryStream();
        var b = new MemoryStream();
        new GaussianMechanism(Options(1, 1), Seeded(3)).Release(Tensors, global, global, a);
        new GaussianMechanism(Options(1, 1), Seeded(3)).Release(Tensors, global, global, b);
        Assert.Equal(a.ToArray(), b.ToArray());
    }

    [Fact]
    public void Refuses_updates_it_cannot_release_safely()
    {
        var global = Write("global", new float[150], new double[7]);
        var nan = Write("nan", [.. Enumerable.Range(0, 150).Select(i => i == 99 ? float.NaN : 0f)], new double[7]);
        var mechanism = new GaussianMechanism(Options(1, 1), Seeded(1));
        Assert.Equal("the update cannot be released: update: tensor 'w' holds 1 NaN and 0 infinite value(s) (first at element 99)",
            Assert.Throws<InvalidDataException>(() => mechanism.Release(Tensors, nan, global, new MemoryStream())).Message);

        var wrong = Write("wrong", new float[150], new double[7], [Tensors[0] with { Shape = [150] }, Tensors[1]]);
        Assert.Contains("update: tensor 'w' has shape [150], declared [3, 50]",
            Assert.Throws<InvalidDataException>(() => mechanism.Release(Tensors, wrong, global, new MemoryStream())).Message);

        var e = Assert.Throws<InvalidDataException>(() => mechanism.Release(
            [.. Tensors, new TensorDeclaration { Name = "steps", Shape = [1], Dtype = "int64" }], global, global, new MemoryStream()));
        Assert.Contains("tensor 'steps' is int64: only float32 and float64 tensors can be released with noise", e.Message);

        Assert.Contains("disabled", Assert.Throws<InvalidOperationException>(() => new GaussianMechanism(new PrivacyOptions())).Message);
    }
}
