using System.Runtime.InteropServices;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Hub.Tests.Merging;

/// <summary>Model documents for the merge tests: random values for declared tensors, written to a temporary folder.</summary>
public sealed class ModelFiles : IDisposable
{
    public readonly string Dir = Directory.CreateTempSubdirectory("ht-merge-test-").FullName;

    /// <summary>Odd sizes: none a multiple of a test chunk or of a SIMD width; float32, float64 and a carried-over int64.</summary>
    public static readonly TensorDeclaration[] Tensors =
    [
        new() { Name = "conv.weight", Shape = [3, 7], Dtype = "float32" },
        new() { Name = "fc.weight", Shape = [1003], Dtype = "float32" },
        new() { Name = "fc.bias", Shape = [2, 129], Dtype = "float64" },
        new() { Name = "bn.num_batches_tracked", Shape = [1], Dtype = "int64" },
    ];

    public static long Elements(TensorDeclaration t) => t.Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>A model as values per tensor, floats held as doubles (int64 as its value).</summary>
    public static Dictionary<string, double[]> Random(int seed, IReadOnlyList<TensorDeclaration>? tensors = null, double scale = 1)
    {
        var random = new Random(seed);
        return (tensors ?? Tensors).ToDictionary(t => t.Name, t => t.Dtype == "int64"
            ? Enumerable.Repeat(42.0, (int)Elements(t)).ToArray()
            : Enumerable.Range(0, (int)Elements(t)).Select(_ => (random.NextDouble() * 2 - 1) * scale)
                .Select(v => t.Dtype == "float32" ? (float)v : v).ToArray()); // the values as stored, so references start from the same numbers
    }

    public string Write(string name, Dictionary<string, double[]> model, IReadOnlyList<TensorDeclaration>? tensors = null)
    {
        var path = Path.Combine(Dir, name);
        using var stream = File.Create(path);
        SafeTensors.Write(stream, (tensors ?? Tensors).Select(t => new SafeTensor(t.Name, t.Dtype, t.Shape, Encode(t.Dtype, model[t.Name]))));
        return path;
    }

    public static byte[] Encode(string dtype, double[] values) => dtype switch
    {
        "float32" => MemoryMarshal.AsBytes(values.Select(v => (float)v).ToArray().AsSpan()).ToArray(),
        "float64" => MemoryMarshal.AsBytes(values.AsSpan()).ToArray(),
        "int64" => MemoryMarshal.AsBytes(values.Select(v => (long)v).ToArray().AsSpan()).ToArray(),
        _ => throw new ArgumentException(dtype),
    };

    /// <summary>Reads every tensor of a document back as doubles, and its header.</summary>
    public static (Dictionary<string, double[]> Values, SafeTensorsHeader Header) Read(byte[] document)
    {
        var header = SafeTensors.ReadHeader(document);
        var values = header.Tensors.ToDictionary(t => t.Name, t =>
        {
            var bytes = document.AsSpan((int)(header.DataStart + t.Offset), (int)t.Length);
            return t.Dtype switch
            {
                "float32" => MemoryMarshal.Cast<byte, float>(bytes).ToArray().Select(v => (double)v).ToArray(),
                "float64" => MemoryMarshal.Cast<byte, double>(bytes).ToArray(),
                "int64" => MemoryMarshal.Cast<byte, long>(bytes).ToArray().Select(v => (double)v).ToArray(),
                _ => throw new ArgumentException(t.Dtype),
            };
        });
        return (values, header);
    }

    public static (Dictionary<string, double[]> Values, SafeTensorsHeader Header) Read(string path) => Read(File.ReadAllBytes(path));

    /// <summary>Asserts two models agree within float32 rounding (float64 tensors much closer).</summary>
    public static void AssertClose(Dictionary<string, double[]> expected, Dictionary<string, double[]> actual, IReadOnlyList<TensorDeclaration>? tensors = null, double float32Tolerance = 2e-6, double float64Tolerance = 1e-12)
    {
        foreach (var t in tensors ?? Tensors)
        {
            var tolerance = t.Dtype == "float32" ? float32Tolerance : float64Tolerance;
            Assert.Equal(expected[t.Name].Length, actual[t.Name].Length);
            for (var i = 0; i < expected[t.Name].Length; i++)
            {
                var (e, a) = (expected[t.Name][i], actual[t.Name][i]);
                if (Math.Abs(e - a) > tolerance * Math.Max(1, Math.Abs(e)))
                    Assert.Fail($"{t.Name}[{i}]: expected {e}, got {a}");
            }
        }
    }

    public void Dispose() => Directory.Delete(Dir, recursive: true);
}
