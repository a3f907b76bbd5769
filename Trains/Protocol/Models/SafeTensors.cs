using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace HealthTrain.Trains.Protocol.Models;

/// <summary>
/// The safetensors format (Hugging Face): an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each
/// tensor name to <c>{"dtype","shape","data_offsets":[begin,end]}</c> (plus an optional <c>"__metadata__"</c> map of
/// strings), then the tensors' bytes, little-endian, row-major, contiguous and without holes. Model updates, global
/// models and model versions all travel in it: it holds no code, unlike pickles, and can be checked before it is used.
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted, as the reference implementation does.</summary>
    public const int MaxHeaderBytes = 100 * 1024 * 1024;

    /// <summary>Key of the free-form string metadata in the header.</summary>
    public const string MetadataKey = "__metadata__";

    /// <summary>Manifest dtype names (as in <see cref="TensorDeclaration.Dtype"/>) and their safetensors codes and element sizes.</summary>
    private static readonly (string Dtype, string Code, int Size)[] Dtypes =
    [
        ("float32", "F32", 4), ("float64", "F64", 8), ("float16", "F16", 2), ("bfloat16", "BF16", 2),
        ("int64", "I64", 8), ("int32", "I32", 4), ("int16", "I16", 2), ("int8", "I8", 1), ("uint8", "U8", 1), ("bool", "BOOL", 1),
    ];

    /// <summary>Bytes per element of a manifest dtype.</summary>
    public static int ElementSize(string dtype) =>
        Dtypes.FirstOrDefault(d => d.Dtype == dtype).Size is > 0 and var size ? size : throw new ArgumentException($"'{dtype}' is not a dtype", nameof(dtype));

    /// <summary>The safetensors code (<c>F32</c>, …) of a manifest dtype.</summary>
    public static string CodeOf(string dtype) =>
        Dtypes.FirstOrDefault(d => d.Dtype == dtype).Code ?? throw new ArgumentException($"'{dtype}' is not a dtype", nameof(dtype));

    private static string? DtypeOfCode(string code) => Dtypes.FirstOrDefault(d => d.Code == code).Dtype;

    /// <summary>Reads and checks the header of the safetensors document in <paramref name="stream"/> (which must be seekable, positioned at the start).</summary>
    /// <exception cref="SafeTensorsException">The bytes are not a well-formed safetensors document.</exception>
    public static SafeTensorsHeader ReadHeader(Stream stream)
    {
        var start = stream.Position;
        var total = stream.Length - start;
        Span<byte> prefix = stackalloc byte[8];
        if (total < 8 || stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) < 8)
            throw new SafeTensorsException("shorter than the 8-byte header length");
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength > MaxHeaderBytes)
            throw new SafeTensorsException($"the header claims {headerLength} bytes; at most {MaxHeaderBytes} are accepted");
        if ((long)headerLength > total - 8)
            throw new SafeTensorsException($"the header claims {headerLength} bytes but only {total - 8} follow");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        return ParseHeader(header, dataStart: start + 8 + (long)headerLength, dataLength: total - 8 - (long)headerLength);
    }

    /// <summary>Reads and checks a whole document held in memory.</summary>
    public static SafeTensorsHeader ReadHeader(ReadOnlySpan<byte> document)
    {
        using var stream = new MemoryStream(document.ToArray(), writable: false);
        return ReadHeader(stream);
    }

    private static SafeTensorsHeader ParseHeader(byte[] header, long dataStart, long dataLength)
    {
        if (header.Length == 0 || header[0] != (byte)'{')
            throw new SafeTensorsException("the header is not a JSON object");
        JsonDocument json;
        try
        {
            json = JsonDocument.Parse(header.AsMemory().TrimEnd((byte)' '));
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException($"the header is not valid JSON: {e.Message}");
        }
        using (json)
        {
            if (json.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafeTensorsException("the header is not a JSON object");
            var tensors = new List<SafeTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var member in json.RootElement.EnumerateObject())
            {
                if (!seen.Add(member.Name))
                    throw new SafeTensorsException($"'{member.Name}' appears twice in the header");
                if (member.Name == MetadataKey)
                {
                    if (member.Value.ValueKind != JsonValueKind.Object)
                        throw new SafeTensorsException($"{MetadataKey} must be an object of strings");
                    foreach (var m in member.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String
                            ? m.Value.GetString()!
                            : throw new SafeTensorsException($"{MetadataKey}.{m.Name} must be a string");
                    continue;
                }
                tensors.Add(ParseTensor(member.Name, member.Value));
            }
            // The data must be covered exactly: contiguous, in some order, from 0 to its end, no holes or overlaps.
            long expected = 0;
            foreach (var t in tensors.OrderBy(t => t.Offset).ThenBy(t => t.Length))
            {
                if (t.Offset != expected)
                    throw new SafeTensorsException($"tensor '{t.Name}' starts at byte {t.Offset} of the data, expected {expected} (no holes or overlaps)");
                expected = t.Offset + t.Length;
            }
            if (expected != dataLength)
                throw new SafeTensorsException($"the tensors cover {expected} bytes but {dataLength} bytes of data follow the header");
            return new SafeTensorsHeader(tensors, metadata, dataStart);
        }
    }

    private static SafeTensorInfo ParseTensor(string name, JsonElement value)
    {
        if (name.Length == 0) throw new SafeTensorsException("a tensor has an empty name");
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafeTensorsException($"tensor '{name}' must be an object with dtype, shape and data_offsets");
        string? code = null;
        List<long>? shape = null;
        long[]? offsets = null;
        foreach (var p in value.EnumerateObject())
        {
            switch (p.Name)
            {
                case "dtype" when p.Value.ValueKind == JsonValueKind.String:
                    code = p.Value.GetString();
                    break;
                case "shape" when p.Value.ValueKind == JsonValueKind.Array:
                    shape = [.. p.Value.EnumerateArray().Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var n) && n >= 0
                        ? n : throw new SafeTensorsException($"tensor '{name}' has a shape entry that is not a non-negative integer"))];
                    break;
                case "data_offsets" when p.Value.ValueKind == JsonValueKind.Array && p.Value.GetArrayLength() == 2:
                    offsets = [.. p.Value.EnumerateArray().Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var n) && n >= 0
                        ? n : throw new SafeTensorsException($"tensor '{name}' has a data offset that is not a non-negative integer"))];
                    break;
                default:
                    throw new SafeTensorsException($"tensor '{name}' has an unexpected or malformed member '{p.Name}'");
            }
        }
        if (code is null || shape is null || offsets is null)
            throw new SafeTensorsException($"tensor '{name}' needs dtype, shape and data_offsets");
        var dtype = DtypeOfCode(code) ?? throw new SafeTensorsException($"tensor '{name}' has dtype '{code}', which is not supported");
        if (offsets[1] < offsets[0])
            throw new SafeTensorsException($"tensor '{name}' ends before it begins");
        long elements = 1;
        try
        {
            foreach (var d in shape) elements = checked(elements * d);
            var bytes = checked(elements * ElementSize(dtype));
            if (bytes != offsets[1] - offsets[0])
                throw new SafeTensorsException($"tensor '{name}' of shape [{string.Join(", ", shape)}] and dtype {dtype} needs {bytes} bytes but its offsets span {offsets[1] - offsets[0]}");
        }
        catch (OverflowException)
        {
            throw new SafeTensorsException($"tensor '{name}' has a shape too large to address");
        }
        return new SafeTensorInfo(name, dtype, shape, offsets[0], offsets[1] - offsets[0]);
    }

    /// <summary>
    /// Writes tensors as a safetensors document, in the order given, with the header padded by spaces so the data
    /// starts on an 8-byte boundary.
    /// </summary>
    public static void Write(Stream stream, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        foreach (var t in list)
        {
            var expected = ByteLength(t.Name, t.Dtype, t.Shape);
            if (expected != t.Data.Length)
                throw new ArgumentException($"tensor '{t.Name}' of shape [{string.Join(", ", t.Shape)}] and dtype {t.Dtype} needs {expected} bytes, got {t.Data.Length}", nameof(tensors));
        }
        WriteHeader(stream, [.. list.Select(t => new TensorDeclaration { Name = t.Name, Dtype = t.Dtype, Shape = t.Shape })], metadata);
        foreach (var t in list) stream.Write(t.Data.Span);
    }

    /// <summary>
    /// Writes only the header of a document whose tensors follow in the order given; the caller then writes each
    /// tensor's bytes, in that order, <see cref="ByteLength"/> bytes each. Lets a large document be written streaming.
    /// </summary>
    /// <returns>The header as a reader would see it.</returns>
    public static SafeTensorsHeader WriteHeader(Stream stream, IReadOnlyList<TensorDeclaration> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        var infos = new List<SafeTensorInfo>(tensors.Count);
        using var headerJson = new MemoryStream();
        using (var w = new Utf8JsonWriter(headerJson))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var t in tensors)
            {
                if (t.Name.Length == 0 || t.Name == MetadataKey || !names.Add(t.Name))
                    throw new ArgumentException($"tensor name '{t.Name}' is empty, reserved or used twice", nameof(tensors));
                var length = ByteLength(t.Name, t.Dtype, t.Shape);
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", CodeOf(t.Dtype));
                w.WriteStartArray("shape");
                foreach (var d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset + length);
                w.WriteEndArray();
                w.WriteEndObject();
                infos.Add(new SafeTensorInfo(t.Name, t.Dtype, t.Shape, offset, length));
                offset += length;
            }
            w.WriteEndObject();
        }
        var header = headerJson.ToArray();
        var padded = (header.Length + 7) / 8 * 8;
        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        stream.Write(prefix);
        stream.Write(header);
        for (var i = header.Length; i < padded; i++) stream.WriteByte((byte)' ');
        return new SafeTensorsHeader(infos, metadata ?? new Dictionary<string, string>(), 8 + padded);
    }

    /// <summary>Bytes a tensor of this dtype and shape occupies.</summary>
    public static long ByteLength(string name, string dtype, IReadOnlyList<long> shape) =>
        shape.Aggregate(1L, (a, d) => d >= 0 ? checked(a * d) : throw new ArgumentException($"tensor '{name}' has a negative dimension")) * ElementSize(dtype);

    /// <summary>
    /// Reads <paramref name="destination"/>.Length bytes of tensor <paramref name="tensor"/>, starting
    /// <paramref name="byteOffset"/> bytes into it, from the seekable <paramref name="stream"/> the header was read from.
    /// One seek and one read: over an unbuffered <see cref="FileStream"/> that is a single positional read.
    /// </summary>
    public static void ReadRange(Stream stream, SafeTensorsHeader header, SafeTensorInfo tensor, long byteOffset, Span<byte> destination)
    {
        if (byteOffset < 0 || byteOffset + destination.Length > tensor.Length)
            throw new ArgumentOutOfRangeException(nameof(byteOffset), $"bytes {byteOffset}..{byteOffset + destination.Length} lie outside tensor '{tensor.Name}' ({tensor.Length} bytes)");
        stream.Position = header.DataStart + tensor.Offset + byteOffset;
        stream.ReadExactly(destination);
    }

    /// <summary>Opens a file for <see cref="ReadHeader(Stream)"/> and <see cref="ReadRange"/>: read-only, unbuffered, so every range read is one positional read.</summary>
    public static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.RandomAccess);

    /// <summary>Writes tensors to a new document in memory.</summary>
    public static byte[] ToBytes(IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        using var ms = new MemoryStream();
        Write(ms, tensors, metadata);
        return ms.ToArray();
    }

    /// <summary>A float32 tensor from values (copied, stored little-endian).</summary>
    public static SafeTensor Float32(string name, IReadOnlyList<long> shape, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(values).CopyTo(bytes);
        else for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return new SafeTensor(name, "float32", shape, bytes);
    }

    /// <summary>Reads a float32 tensor's values from a document held in memory.</summary>
    public static float[] ReadFloat32(ReadOnlySpan<byte> document, SafeTensorsHeader header, string name)
    {
        var t = header.Find(name) ?? throw new SafeTensorsException($"no tensor '{name}'");
        if (t.Dtype != "float32") throw new SafeTensorsException($"tensor '{name}' is {t.Dtype}, not float32");
        var bytes = document.Slice(checked((int)(header.DataStart + t.Offset)), checked((int)t.Length));
        var values = new float[t.Length / 4];
        if (BitConverter.IsLittleEndian) bytes.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        else for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
        return values;
    }

    /// <summary>A short description for messages: <c>name float32[3, 4]</c>.</summary>
    public static string Describe(string name, string dtype, IEnumerable<long> shape) => $"{name} {dtype}[{string.Join(", ", shape)}]";
}

/// <summary>A tensor to write: its manifest dtype name, shape and little-endian bytes.</summary>
public sealed record SafeTensor(string Name, string Dtype, IReadOnlyList<long> Shape, ReadOnlyMemory<byte> Data);

/// <summary>Where one tensor lies in a document's data section (<see cref="SafeTensorsHeader.DataStart"/> + <see cref="Offset"/>).</summary>
public sealed record SafeTensorInfo(string Name, string Dtype, IReadOnlyList<long> Shape, long Offset, long Length)
{
    public long Elements => Length / SafeTensors.ElementSize(Dtype);
}

/// <summary>A checked safetensors header: its tensors in header order, its metadata, and where the data begins in the stream.</summary>
public sealed record SafeTensorsHeader(IReadOnlyList<SafeTensorInfo> Tensors, IReadOnlyDictionary<string, string> Metadata, long DataStart)
{
    public SafeTensorInfo? Find(string name) => Tensors.FirstOrDefault(t => t.Name == name);
}

/// <summary>Bytes that are not a well-formed safetensors document.</summary>
public sealed class SafeTensorsException(string message) : Exception("not a valid safetensors document: " + message);
