using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace HealthTrain.Station.Privacy;

/// <summary>
/// Standard normal samples by the Box–Muller transform over 53-bit uniforms drawn from a byte source: by default the
/// operating system's CSPRNG (<see cref="RandomNumberGenerator"/>), so the noise cannot be predicted or replayed.
/// </summary>
/// <remarks>
/// Like Opacus and TF Privacy this samples floating-point Gaussians; it does not defend against the floating-point
/// attacks on the low-order bits of noised values (Mironov 2012). Tests pass a seeded source for reproducible draws.
/// </remarks>
public sealed class GaussianNoise(Action<Span<byte>>? fillRandom = null)
{
    private const double TwoToMinus53 = 1.0 / (1L << 53);
    private readonly Action<Span<byte>> fill = fillRandom ?? RandomNumberGenerator.Fill;
    private readonly byte[] bytes = new byte[64 * 1024];
    private int position = 64 * 1024;

    /// <summary>Adds N(0, <paramref name="standardDeviation"/>²) to every element of <paramref name="values"/>.</summary>
    public void Add<T>(Span<T> values, double standardDeviation) where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (var i = 0; i < values.Length; i += 2)
        {
            var (z0, z1) = NextPair();
            values[i] += T.CreateChecked(z0 * standardDeviation);
            if (i + 1 < values.Length) values[i + 1] += T.CreateChecked(z1 * standardDeviation);
        }
    }

    /// <summary>Two independent standard normal samples.</summary>
    public (double, double) NextPair()
    {
        if (position + 16 > bytes.Length)
        {
            fill(bytes);
            position = 0;
        }
        var a = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(position));
        var b = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(position + 8));
        position += 16;
        var u1 = ((a >> 11) + 1) * TwoToMinus53; // (0, 1]: the logarithm stays finite
        var u2 = (b >> 11) * TwoToMinus53;       // [0, 1)
        var r = Math.Sqrt(-2 * Math.Log(u1));
        var (sin, cos) = Math.SinCos(2 * Math.PI * u2);
        return (r * cos, r * sin);
    }
}
