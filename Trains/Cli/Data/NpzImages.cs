using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Cli.Data;

/// <summary>
/// Reads a MedMNIST-style <c>.npz</c> (a zip of NumPy <c>.npy</c> arrays: <c>{split}_images</c> uint8 [N, H, W] and
/// <c>{split}_labels</c> uint8 [N, 1] or [N]) into an <see cref="ImageCollection"/>, the file a training train reads.
/// Only what such files use is supported: format 1.0–3.0, C order, <c>u1</c> images and unsigned or signed integer labels.
/// </summary>
public static partial class NpzImages
{
    /// <summary>The <paramref name="split"/>'s images and labels (e.g. <c>train</c>, <c>val</c>); <paramref name="limit"/> keeps the first N.</summary>
    public static ImageCollection Read(string npzPath, string split, int? limit = null)
    {
        using var zip = ZipFile.OpenRead(npzPath);
        var images = ReadArray(zip, $"{split}_images", npzPath);
        var labels = ReadArray(zip, $"{split}_labels", npzPath);
        if (images.Dtype != "u1" || images.Shape.Length != 3)
            throw new InvalidDataException($"{npzPath}: {split}_images must be uint8 [N, H, W], not {images.Dtype} [{string.Join(", ", images.Shape)}]");
        var count = images.Shape[0];
        if (labels.Shape.Length is < 1 or > 2 || labels.Shape[0] != count || (labels.Shape.Length == 2 && labels.Shape[1] != 1))
            throw new InvalidDataException($"{npzPath}: {split}_labels must be [{count}] or [{count}, 1], not [{string.Join(", ", labels.Shape)}]");
        var n = Math.Min(count, limit ?? count);
        var size = images.Shape[1] * images.Shape[2];
        var values = new long[n];
        var width = labels.ElementSize;
        for (var i = 0; i < n; i++)
        {
            var span = labels.Data.AsSpan(i * width, width);
            values[i] = labels.Dtype switch
            {
                "u1" => span[0],
                "i1" => (sbyte)span[0],
                "i8" => BitConverter.ToInt64(span),
                "u8" => checked((long)BitConverter.ToUInt64(span)),
                "i4" => BitConverter.ToInt32(span),
                "u4" => BitConverter.ToUInt32(span),
                _ => throw new InvalidDataException($"{npzPath}: {split}_labels has dtype {labels.Dtype}, expected an integer type"),
            };
        }
        return new ImageCollection(n, images.Shape[1], images.Shape[2], images.Data[..(n * size)], values);
    }

    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    private sealed record NpyArray(string Dtype, int ElementSize, int[] Shape, byte[] Data);

    private static NpyArray ReadArray(ZipArchive zip, string name, string npzPath)
    {
        var entry = zip.GetEntry(name + ".npy") ?? throw new InvalidDataException($"{npzPath} holds no array '{name}' (it has: {string.Join(", ", zip.Entries.Select(e => e.Name))})");
        using var stream = entry.Open();
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        var bytes = memory.ToArray();
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic))
            throw new InvalidDataException($"{npzPath}/{name}.npy is not a NumPy array file");
        var major = bytes[6];
        int headerLength, headerStart;
        if (major == 1) { headerLength = BitConverter.ToUInt16(bytes, 8); headerStart = 10; }
        else { headerLength = checked((int)BitConverter.ToUInt32(bytes, 8)); headerStart = 12; }
        var header = Encoding.Latin1.GetString(bytes, headerStart, headerLength);
        var descr = DescrPattern().Match(header);
        var shape = ShapePattern().Match(header);
        if (!descr.Success || !shape.Success) throw new InvalidDataException($"{npzPath}/{name}.npy: unreadable header {header.Trim()}");
        if (header.Contains("'fortran_order': True", StringComparison.Ordinal)) throw new InvalidDataException($"{npzPath}/{name}.npy is in Fortran order; only C order is supported");
        var order = descr.Groups[1].Value;
        if (order == ">" && descr.Groups[3].Value != "1") throw new InvalidDataException($"{npzPath}/{name}.npy is big-endian");
        var dtype = descr.Groups[2].Value + descr.Groups[3].Value;
        var dims = shape.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
        var elementSize = int.Parse(descr.Groups[3].Value);
        var expected = dims.Aggregate(1L, (a, d) => a * d) * elementSize;
        var data = bytes[(headerStart + headerLength)..];
        if (data.Length != expected) throw new InvalidDataException($"{npzPath}/{name}.npy holds {data.Length} data bytes, its shape needs {expected}");
        return new NpyArray(dtype, elementSize, dims, data);
    }

    [GeneratedRegex(@"'descr':\s*'([<>|=])([a-z])(\d+)'")]
    private static partial Regex DescrPattern();

    [GeneratedRegex(@"'shape':\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}
