using System.Globalization;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Station.Privacy;

/// <summary>
/// The Gaussian mechanism a station applies to a trained update before it releases it: the difference from the global
/// model the round started from, over all tensors together, is scaled down to L2 norm at most C
/// (<see cref="PrivacyOptions.ClipNorm"/>), and N(0, (z·C)²) noise is added to every coordinate; the released
/// document is global + clipped difference + noise, in the layout the manifest declares.
/// </summary>
/// <remarks>
/// Any two datasets give clipped differences within 2C of each other, and the dataset against no data at all (a zero
/// difference) within C: the accountant charges z as the noise multiplier, i.e. sensitivity C, the add/remove-the-whole-
/// dataset relation of user-level DP-FedAvg (McMahan et al. 2018). Without a global model (round 1) the reference is
/// zero: the weights themselves are clipped, which keeps the bound but rarely leaves a useful model — DP runs should
/// start from a global model. Only float32 and float64 tensors can be noised; anything else is refused, since it would
/// leave the station unprotected. Reads and writes stream in chunks, two passes over the update (norm, then release).
/// </remarks>
public sealed class GaussianMechanism
{
    private const int ChunkElements = 64 * 1024;
    private readonly PrivacyOptions options;
    private readonly GaussianNoise noise;

    public GaussianMechanism(PrivacyOptions options, GaussianNoise? noise = null)
    {
        this.options = options.EnsureValid();
        if (!options.Enabled) throw new InvalidOperationException("privacy is disabled (Station:Privacy:NoiseMultiplier is 0): nothing to apply");
        this.noise = noise ?? new GaussianNoise();
    }

    /// <summary>
    /// Writes the released form of the update at <paramref name="updatePath"/> to <paramref name="output"/>, clipped
    /// against the global model at <paramref name="globalModelPath"/> (null: against zero). Both must match
    /// <paramref name="tensors"/> exactly and hold only finite values. Record the release with
    /// <see cref="PrivacyBudget.Spend"/> before it leaves the station.
    /// </summary>
    /// <exception cref="InvalidDataException">The update or global model does not match the declared tensors, or a tensor cannot be noised.</exception>
    public PrivateRelease Release(IReadOnlyList<TensorDeclaration> tensors, string updatePath, string? globalModelPath, Stream output)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(output);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors data is read in place as little-endian");
        var problems = tensors.Where(t => t.Dtype is not ("float32" or "float64"))
            .Select(t => $"tensor '{t.Name}' is {t.Dtype}: only float32 and float64 tensors can be released with noise").ToList();
        if (tensors.Count == 0) problems.Add("the train declares no tensors");
        using var update = SafeTensors.OpenRead(updatePath);
        var updateReport = TensorOutputCheck.CheckHeader(tensors, update);
        problems.AddRange(updateReport.Problems.Select(p => "update: " + p));
        using var global = globalModelPath is null ? null : SafeTensors.OpenRead(globalModelPath);
        var globalReport = global is null ? null : TensorOutputCheck.CheckHeader(tensors, global);
        problems.AddRange(globalReport?.Problems.Select(p => "global model: " + p) ?? []);
        if (problems.Count > 0) throw new InvalidDataException("the update cannot be released: " + string.Join("; ", problems));

        var u = new Source("update", update, updateReport.Header!);
        var g = global is null ? null : new Source("global model", global, globalReport!.Header!);
        double squares = 0;
        foreach (var t in tensors)
            squares += t.Dtype == "float32" ? Pass<float>(t, u, g, scale: null, output: null) : Pass<double>(t, u, g, scale: null, output: null);
        var norm = Math.Sqrt(squares);
        var scale = norm > options.ClipNorm ? options.ClipNorm / norm : 1;
        var stdDev = options.NoiseMultiplier * options.ClipNorm;

        SafeTensors.WriteHeader(output, tensors, new Dictionary<string, string>
        {
            ["dp.mechanism"] = "gaussian",
            ["dp.clipNorm"] = options.ClipNorm.ToString("R", CultureInfo.InvariantCulture),
            ["dp.noiseMultiplier"] = options.NoiseMultiplier.ToString("R", CultureInfo.InvariantCulture),
            ["dp.reference"] = g is null ? "zero" : "global",
        });
        foreach (var t in tensors)
        {
            if (t.Dtype == "float32") Pass<float>(t, u, g, scale, output);
            else Pass<double>(t, u, g, scale, output);
        }
        output.Flush();
        return new PrivateRelease(norm, scale, stdDev, scale < 1);
    }

    private sealed record Source(string Label, Stream Stream, SafeTensorsHeader Header);

    /// <summary>
    /// One pass over a tensor in chunks: without <paramref name="scale"/>, returns Σ(update − global)²; with it, writes
    /// global + scale·(update − global) + noise.
    /// </summary>
    private double Pass<T>(TensorDeclaration tensor, Source update, Source? global, double? scale, Stream? output) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>();
        var elements = update.Header.Find(tensor.Name)!.Elements;
        var u = new T[(int)Math.Min(ChunkElements, elements)];
        var r = new T[u.Length];
        double squares = 0;
        for (long start = 0; start < elements; start += ChunkElements)
        {
            var n = (int)Math.Min(ChunkElements, elements - start);
            var delta = u.AsSpan(0, n);
            var reference = r.AsSpan(0, n);
            Read(update, tensor, start, size, MemoryMarshal.AsBytes(delta));
            if (global is not null) Read(global, tensor, start, size, MemoryMarshal.AsBytes(reference));
            else reference.Clear();
            TensorPrimitives.Subtract(delta, reference, delta);
            if (scale is not { } s)
            {
                squares += double.CreateChecked(TensorPrimitives.SumOfSquares<T>(delta));
                continue;
            }
            TensorPrimitives.MultiplyAdd(delta, T.CreateChecked(s), reference, delta);
            noise.Add(delta, options.NoiseMultiplier * options.ClipNorm);
            output!.Write(MemoryMarshal.AsBytes(delta));
        }
        return squares;
    }

    private static void Read(Source source, TensorDeclaration tensor, long start, int size, Span<byte> destination)
    {
        SafeTensors.ReadRange(source.Stream, source.Header, source.Header.Find(tensor.Name)!, start * size, destination);
        var bad = TensorOutputCheck.CountNonFinite(tensor.Dtype, destination);
        if (bad.Total > 0) throw new InvalidDataException($"the update cannot be released: {source.Label}: {bad.At(start).Describe(tensor.Name)}");
    }
}

/// <summary>
/// What a release did: the update's distance from the global model before clipping, the factor it was scaled by, and
/// the noise's standard deviation. The norm is for the station's own log: it depends on the data and must not leave.
/// </summary>
public sealed record PrivateRelease(double UpdateNorm, double ClipScale, double NoiseStandardDeviation, bool Clipped);
