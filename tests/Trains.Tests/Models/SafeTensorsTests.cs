using System.Buffers.Binary;
using System.Text;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Trains.Tests.Models;

public class SafeTensorsTests
{
    [Fact]
    public void Writes_and_reads_back_tensors_and_metadata_with_the_data_aligned_to_8_bytes()
    {
        var bytes = SafeTensors.ToBytes(
            [SafeTensors.Float32("w", [2, 3], [1, 2, 3, 4, 5, 6]), new SafeTensor("steps", "int64", [1], BitConverter.GetBytes(7L))],
            new Dictionary<string, string> { ["samples"] = "42" });

        var header = SafeTensors.ReadHeader(bytes);
        Assert.Equal(0, header.DataStart % 8);
        Assert.Equal(["w", "steps"], header.Tensors.Select(t => t.Name));
        Assert.Equal([2L, 3L], header.Find("w")!.Shape);
        Assert.Equal(6, header.Find("w")!.Elements);
        Assert.Equal("42", header.Metadata["samples"]);
        Assert.Equal([1f, 2, 3, 4, 5, 6], SafeTensors.ReadFloat32(bytes, header, "w"));
        Assert.Equal(7L, BitConverter.ToInt64(bytes, (int)(header.DataStart + header.Find("steps")!.Offset)));
    }

    [Fact]
    public void Reads_a_document_as_the_reference_implementation_writes_it()
    {
        // safetensors.torch.save({"a": torch.tensor([1.5, -2.0])}): header without padding, data follows directly.
        var json = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        var doc = Document(json, [.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(-2f)]);
        var header = SafeTensors.ReadHeader(doc);
        Assert.Equal([1.5f, -2f], SafeTensors.ReadFloat32(doc, header, "a"));
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", 8, "needs 8 bytes")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "starts at byte 4")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 8, "cover 4 bytes but 8")]
    [InlineData("""{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}""", 8, "not supported")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "appears twice")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", 4, "non-negative")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}""", 4, "unexpected")]
    [InlineData("""{"__metadata__":{"n":3}}""", 0, "must be a string")]
    [InlineData("""[1]""", 0, "not a JSON object")]
    [InlineData("""{"a":""", 0, "not valid JSON")]
    public void Refuses_malformed_documents_with_the_reason(string json, int dataBytes, string reason)
    {
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.ReadHeader(Document(json, new byte[dataBytes])));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void Refuses_a_header_length_beyond_the_document()
    {
        var doc = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(doc, 1000);
        Assert.Contains("only 8 follow", Assert.Throws<SafeTensorsException>(() => SafeTensors.ReadHeader(doc)).Message);
        Assert.Contains("8-byte header", Assert.Throws<SafeTensorsException>(() => SafeTensors.ReadHeader(new byte[3])).Message);
    }

    [Fact]
    public void Writer_refuses_data_that_does_not_match_the_shape_and_duplicate_names()
    {
        Assert.Throws<ArgumentException>(() => SafeTensors.ToBytes([new SafeTensor("w", "float32", [3], new byte[8])]));
        Assert.Throws<ArgumentException>(() => SafeTensors.ToBytes([SafeTensors.Float32("w", [1], [1]), SafeTensors.Float32("w", [1], [2])]));
    }

    private static byte[] Document(string json, byte[] data)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var doc = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(doc, (ulong)header.Length);
        header.CopyTo(doc, 8);
        data.CopyTo(doc, 8 + header.Length);
        return doc;
    }
}
