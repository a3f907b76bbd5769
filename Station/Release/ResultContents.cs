using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Station.Release;

/// <summary>One tensor of a held update: what the hub would receive, with its L2 norm so an outsized update stands out.</summary>
public sealed record TensorFacts(string Name, string Dtype, IReadOnlyList<long> Shape, long Bytes, double Norm);

/// <summary>
/// What a held result would tell the hub: its statistics cells, and for a training train the update's tensors, size and
/// digest (computed as the hub computes it, so the operator can match it to the hub's record later).
/// </summary>
public sealed record ResultContents(IReadOnlyList<KeyValuePair<string, StatisticValue>> Statistics, IReadOnlyList<TensorFacts> Tensors,
    long Bytes, string Digest, string? Problem);

/// <summary>Reads a held result for the operator: statistics as sent, tensors from the update file in the outbox.</summary>
public static class ResultReader
{
    private const int ChunkBytes = 1 << 20;

    public static ResultContents Read(HeldResult held)
    {
        var statistics = held.Result.Statistics.Statistics.OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
        if (held.UpdateFile is null)
        {
            // The hub's result digest for a statistics train is over this exact serialisation (Hub/Runs/JobQueue.Complete).
            var payload = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(held.Result.Statistics, ProtocolJson.Options));
            return new ResultContents(statistics, [], payload.Length, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(payload)), null);
        }
        try
        {
            using var file = SafeTensors.OpenRead(held.UpdateFile);
            var digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(file));
            file.Position = 0;
            var header = SafeTensors.ReadHeader(file);
            var tensors = header.Tensors.Select(t => new TensorFacts(t.Name, t.Dtype, t.Shape, t.Length, Norm(file, header, t))).ToList();
            return new ResultContents(statistics, tensors, file.Length, digest, null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SafeTensorsException)
        {
            return new ResultContents(statistics, [], 0, "", $"the update in the outbox cannot be read: {e.Message}");
        }
    }

    /// <summary>The tensor's L2 norm, read in chunks so a large update does not have to fit in memory.</summary>
    private static double Norm(Stream file, SafeTensorsHeader header, SafeTensorInfo tensor)
    {
        var size = SafeTensors.ElementSize(tensor.Dtype);
        var buffer = new byte[(int)Math.Min(ChunkBytes / size * size, tensor.Length)];
        double sum = 0;
        for (long offset = 0; offset < tensor.Length; offset += buffer.Length)
        {
            var span = buffer.AsSpan(0, (int)Math.Min(buffer.Length, tensor.Length - offset));
            SafeTensors.ReadRange(file, header, tensor, offset, span);
            for (var i = 0; i < span.Length; i += size)
            {
                var v = Element(tensor.Dtype, span[i..]);
                sum += v * v;
            }
        }
        return Math.Sqrt(sum);
    }

    private static double Element(string dtype, ReadOnlySpan<byte> b) => dtype switch
    {
        "float32" => BinaryPrimitives.ReadSingleLittleEndian(b),
        "float64" => BinaryPrimitives.ReadDoubleLittleEndian(b),
        "float16" => (double)BinaryPrimitives.ReadHalfLittleEndian(b),
        // bfloat16 is the upper half of a float32.
        "bfloat16" => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(b) << 16),
        "int64" => BinaryPrimitives.ReadInt64LittleEndian(b),
        "int32" => BinaryPrimitives.ReadInt32LittleEndian(b),
        "int16" => BinaryPrimitives.ReadInt16LittleEndian(b),
        "int8" => (sbyte)b[0],
        "uint8" or "bool" => b[0],
        _ => throw new SafeTensorsException($"no norm for dtype '{dtype}'"),
    };
}
