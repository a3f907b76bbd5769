using System.Numerics;
using System.Runtime.InteropServices;

namespace HealthTrain.Trains.Protocol.Models;

/// <summary>
/// Checks a model document (a train's <c>/output/update.safetensors</c>, a global model) against the tensors its
/// manifest declares: well-formed, exactly the declared names, shapes and dtypes, and only finite values. The
/// station runs it before it releases an update, the hub again before it merges one.
/// </summary>
public static class TensorOutputCheck
{
    /// <summary>Bytes read at a time while scanning values: a multiple of every element size.</summary>
    public const int ScanBufferBytes = 1 << 20;

    /// <summary>Checks the document at <paramref name="path"/>, header and values, reading it once front to back.</summary>
    public static TensorOutputReport Check(IReadOnlyList<TensorDeclaration> declared, string path)
    {
        using var stream = SafeTensors.OpenRead(path);
        return Check(declared, stream);
    }

    /// <summary>
    /// Checks the document in the seekable <paramref name="document"/> (positioned at its start), header and values.
    /// Values are scanned in <see cref="ScanBufferBytes"/> pieces, so a large document is never held in memory.
    /// </summary>
    public static TensorOutputReport Check(IReadOnlyList<TensorDeclaration> declared, Stream document)
    {
        var report = CheckHeader(declared, document);
        if (report.Header is not { } header) return report;
        var problems = report.Problems.ToList();
        var buffer = new byte[ScanBufferBytes];
        // The tensors lie contiguously in offset order, so one sequential read covers the data.
        document.Position = header.DataStart;
        foreach (var tensor in header.Tensors.OrderBy(t => t.Offset))
        {
            var scan = new NonFiniteCount();
            for (long done = 0; done < tensor.Length;)
            {
                var piece = buffer.AsSpan(0, (int)Math.Min(buffer.Length, tensor.Length - done));
                document.ReadExactly(piece);
                scan = scan.Plus(CountNonFinite(tensor.Dtype, piece).At(done / SafeTensors.ElementSize(tensor.Dtype)));
                done += piece.Length;
            }
            if (scan.Total > 0) problems.Add(scan.Describe(tensor.Name));
        }
        return report with { Problems = problems };
    }

    /// <summary>
    /// Checks only the header of <paramref name="document"/> (seekable, positioned at its start) against the declared
    /// tensors; the values are not read. <see cref="TensorOutputReport.Header"/> is null when the document is not
    /// well-formed.
    /// </summary>
    public static TensorOutputReport CheckHeader(IReadOnlyList<TensorDeclaration> declared, Stream document)
    {
        ArgumentNullException.ThrowIfNull(declared);
        ArgumentNullException.ThrowIfNull(document);
        if (!document.CanSeek) throw new ArgumentException("the document stream must be seekable", nameof(document));
        SafeTensorsHeader header;
        try
        {
            header = SafeTensors.ReadHeader(document);
        }
        catch (SafeTensorsException e)
        {
            return new TensorOutputReport([e.Message], null);
        }
        return new TensorOutputReport(CompareWithDeclared(declared, header), header);
    }

    /// <summary>Every difference between a document's tensors and the declared ones, in declaration order, then undeclared ones.</summary>
    public static IReadOnlyList<string> CompareWithDeclared(IReadOnlyList<TensorDeclaration> declared, SafeTensorsHeader header)
    {
        var problems = new List<string>();
        var declaredNames = new HashSet<string>(declared.Select(d => d.Name), StringComparer.Ordinal);
        foreach (var d in declared)
        {
            if (header.Find(d.Name) is not { } t)
            {
                var nearly = header.Tensors.FirstOrDefault(t => string.Equals(t.Name, d.Name, StringComparison.OrdinalIgnoreCase) && !declaredNames.Contains(t.Name));
                problems.Add(nearly is null
                    ? $"declared tensor '{d.Name}' is missing"
                    : $"declared tensor '{d.Name}' is missing ('{nearly.Name}' differs only in case)");
                continue;
            }
            if (!t.Shape.SequenceEqual(d.Shape))
                problems.Add($"tensor '{d.Name}' has shape [{string.Join(", ", t.Shape)}], declared [{string.Join(", ", d.Shape)}]");
            if (t.Dtype != d.Dtype)
                problems.Add($"tensor '{d.Name}' has dtype {t.Dtype}, declared {d.Dtype}");
        }
        foreach (var t in header.Tensors.Where(t => !declaredNames.Contains(t.Name)))
            problems.Add($"tensor '{SafeTensors.Describe(t.Name, t.Dtype, t.Shape)}' is not declared");
        return problems;
    }

    /// <summary>
    /// Counts the NaN and infinite values among whole little-endian elements of a floating-point
    /// <paramref name="dtype"/> (float32, float64, float16, bfloat16); other dtypes have none.
    /// </summary>
    public static NonFiniteCount CountNonFinite(string dtype, ReadOnlySpan<byte> data) => dtype switch
    {
        "float32" => Scan(MemoryMarshal.Cast<byte, uint>(data), 0x7F80_0000u, 0x007F_FFFFu),
        "float64" => Scan(MemoryMarshal.Cast<byte, ulong>(data), 0x7FF0_0000_0000_0000ul, 0x000F_FFFF_FFFF_FFFFul),
        "float16" => Scan(MemoryMarshal.Cast<byte, ushort>(data), (ushort)0x7C00, (ushort)0x03FF),
        "bfloat16" => Scan(MemoryMarshal.Cast<byte, ushort>(data), (ushort)0x7F80, (ushort)0x007F),
        _ => default,
    };

    /// <summary>An IEEE value is NaN or infinite when all its exponent bits are set: NaN if the mantissa is non-zero too.</summary>
    private static NonFiniteCount Scan<T>(ReadOnlySpan<T> bits, T exponent, T mantissa) where T : unmanaged, IBinaryInteger<T>
    {
        var result = new NonFiniteCount();
        var i = 0;
        if (Vector.IsHardwareAccelerated && bits.Length >= Vector<T>.Count)
        {
            var mask = new Vector<T>(exponent);
            var vectors = MemoryMarshal.Cast<T, Vector<T>>(bits);
            for (var v = 0; v < vectors.Length; v++)
            {
                // Clean data takes only this test; a vector with a hit is counted element by element below.
                if (Vector.EqualsAny(vectors[v] & mask, mask)) result = result.Plus(ScanScalar(bits.Slice(v * Vector<T>.Count, Vector<T>.Count), exponent, mantissa, (long)v * Vector<T>.Count));
            }
            i = vectors.Length * Vector<T>.Count;
        }
        return result.Plus(ScanScalar(bits[i..], exponent, mantissa, i));
    }

    private static NonFiniteCount ScanScalar<T>(ReadOnlySpan<T> bits, T exponent, T mantissa, long offset) where T : unmanaged, IBinaryInteger<T>
    {
        var result = new NonFiniteCount();
        for (var i = 0; i < bits.Length; i++)
        {
            if ((bits[i] & exponent) != exponent) continue;
            var isNaN = (bits[i] & mantissa) != T.Zero;
            result = result.Plus(new NonFiniteCount(isNaN ? 1 : 0, isNaN ? 0 : 1, offset + i));
        }
        return result;
    }
}

/// <summary>The outcome of <see cref="TensorOutputCheck"/>: every problem found, and the header when the document is well-formed.</summary>
public sealed record TensorOutputReport(IReadOnlyList<string> Problems, SafeTensorsHeader? Header)
{
    public bool IsValid => Problems.Count == 0;
}

/// <summary>How many NaN and infinite values a scan found, and the element index of the first (-1 if none).</summary>
public readonly record struct NonFiniteCount(long NaN, long Infinite, long First)
{
    public NonFiniteCount() : this(0, 0, -1) { }

    public long Total => NaN + Infinite;

    /// <summary>This count followed by <paramref name="later"/>, whose element indexes start at this one's origin.</summary>
    public NonFiniteCount Plus(NonFiniteCount later) =>
        new(NaN + later.NaN, Infinite + later.Infinite, First >= 0 ? First : later.First);

    /// <summary>This count of a piece, its first index moved to count from the tensor's start (the piece starts at element <paramref name="origin"/>).</summary>
    public NonFiniteCount At(long origin) => this with { First = First >= 0 ? First + origin : -1 };

    /// <summary>A problem line for tensor <paramref name="name"/>.</summary>
    public string Describe(string name) =>
        $"tensor '{name}' holds {NaN} NaN and {Infinite} infinite value(s) (first at element {First})";
}
