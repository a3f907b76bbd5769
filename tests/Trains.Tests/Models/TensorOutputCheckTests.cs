using System.Buffers.Binary;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Trains.Tests.Models;

public class TensorOutputCheckTests
{
    private static readonly TensorDeclaration[] Declared =
    [
        new() { Name = "w", Shape = [2, 3], Dtype = "float32" },
        new() { Name = "b", Shape = [3], Dtype = "float64" },
    ];

    private static SafeTensor W(params float[] values) => SafeTensors.Float32("w", [2, 3], values);

    private static SafeTensor B(params double[] values) =>
        new("b", "float64", [3], values.SelectMany(BitConverter.GetBytes).ToArray());

    private static TensorOutputReport Check(byte[] document) => TensorOutputCheck.Check(Declared, new MemoryStream(document));

    [Fact]
    public void Accepts_exactly_the_declared_tensors_with_finite_values_in_any_order()
    {
        var report = Check(SafeTensors.ToBytes([B(1, 2, 3), W(1, -2, 0, float.MaxValue, float.Epsilon, -0f)]));
        Assert.True(report.IsValid, string.Join("; ", report.Problems));
        Assert.Equal(["b", "w"], report.Header!.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Reports_a_document_that_is_not_well_formed()
    {
        var bytes = SafeTensors.ToBytes([W(1, 2, 3, 4, 5, 6), B(1, 2, 3)]);
        var report = Check(bytes[..^4]);
        Assert.Null(report.Header);
        Assert.Contains("not a valid safetensors document", Assert.Single(report.Problems));
    }

    [Fact]
    public void Reports_a_missing_declared_tensor()
    {
        var report = Check(SafeTensors.ToBytes([W(1, 2, 3, 4, 5, 6)]));
        Assert.Equal(["declared tensor 'b' is missing"], report.Problems);
    }

    [Fact]
    public void Reports_an_undeclared_tensor()
    {
        var report = Check(SafeTensors.ToBytes([W(1, 2, 3, 4, 5, 6), B(1, 2, 3), SafeTensors.Float32("extra", [1], [0])]));
        Assert.Equal(["tensor 'extra float32[1]' is not declared"], report.Problems);
    }

    [Fact]
    public void Reports_a_name_that_differs_from_the_declaration_as_missing_and_undeclared()
    {
        var report = Check(SafeTensors.ToBytes([SafeTensors.Float32("W", [2, 3], [1, 2, 3, 4, 5, 6]), B(1, 2, 3)]));
        Assert.Equal(["declared tensor 'w' is missing ('W' differs only in case)", "tensor 'W float32[2, 3]' is not declared"], report.Problems);
    }

    [Fact]
    public void Reports_a_shape_other_than_declared_even_with_the_same_element_count()
    {
        var report = Check(SafeTensors.ToBytes([SafeTensors.Float32("w", [3, 2], [1, 2, 3, 4, 5, 6]), B(1, 2, 3)]));
        Assert.Equal(["tensor 'w' has shape [3, 2], declared [2, 3]"], report.Problems);
    }

    [Fact]
    public void Reports_a_dtype_other_than_declared()
    {
        var report = Check(SafeTensors.ToBytes([W(1, 2, 3, 4, 5, 6), SafeTensors.Float32("b", [3], [1, 2, 3])]));
        Assert.Equal(["tensor 'b' has dtype float32, declared float64"], report.Problems);
    }

    [Fact]
    public void Reports_NaN_and_infinities_per_tensor_with_the_first_element()
    {
        var report = Check(SafeTensors.ToBytes([W(1, 2, float.NaN, 4, float.NegativeInfinity, float.PositiveInfinity), B(1, double.NaN, 3)]));
        Assert.Equal(
            ["tensor 'w' holds 1 NaN and 2 infinite value(s) (first at element 2)", "tensor 'b' holds 1 NaN and 0 infinite value(s) (first at element 1)"],
            report.Problems);
    }

    [Fact]
    public void Finds_a_NaN_past_the_first_scan_buffer_and_inside_a_vector_block()
    {
        // Large enough for several scan buffers; the NaN sits in the middle of the last buffer, the infinity in the scalar tail.
        var n = TensorOutputCheck.ScanBufferBytes / 4 * 2 + 4099;
        var values = new float[n];
        for (var i = 0; i < n; i++) values[i] = i * 0.5f - 3;
        values[n - 3000] = float.NaN;
        values[n - 1] = float.PositiveInfinity;
        var declared = new[] { new TensorDeclaration { Name = "big", Shape = [n], Dtype = "float32" } };
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, SafeTensors.ToBytes([SafeTensors.Float32("big", [n], values)]));
            var report = TensorOutputCheck.Check(declared, path);
            Assert.Equal([$"tensor 'big' holds 1 NaN and 1 infinite value(s) (first at element {n - 3000})"], report.Problems);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("float16", (ushort)0x7E00, 1, 0)]   // NaN
    [InlineData("float16", (ushort)0xFC00, 0, 1)]   // -Inf
    [InlineData("float16", (ushort)0x7BFF, 0, 0)]   // largest finite
    [InlineData("bfloat16", (ushort)0x7FC0, 1, 0)]  // NaN
    [InlineData("bfloat16", (ushort)0x7F80, 0, 1)]  // +Inf
    [InlineData("bfloat16", (ushort)0x7F7F, 0, 0)]  // largest finite
    public void Counts_non_finite_half_precision_values(string dtype, ushort bits, long nan, long infinite)
    {
        var data = new byte[40];
        BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(34), bits);
        var count = TensorOutputCheck.CountNonFinite(dtype, data);
        Assert.Equal((nan, infinite), (count.NaN, count.Infinite));
        Assert.Equal(nan + infinite > 0 ? 17 : -1, count.First);
    }

    [Fact]
    public void Integer_tensors_are_never_reported_non_finite()
    {
        var declared = new[] { new TensorDeclaration { Name = "steps", Shape = [2], Dtype = "int32" } };
        var bytes = SafeTensors.ToBytes([new SafeTensor("steps", "int32", [2], BitConverter.GetBytes(0x7F800001).Concat(BitConverter.GetBytes(-1)).ToArray())]);
        Assert.True(TensorOutputCheck.Check(declared, new MemoryStream(bytes)).IsValid);
    }

    [Fact]
    public void Reports_every_problem_at_once()
    {
        var report = Check(SafeTensors.ToBytes([SafeTensors.Float32("w", [6], [1, 2, 3, 4, 5, float.NaN]), SafeTensors.Float32("x", [1], [0])]));
        Assert.Equal(4, report.Problems.Count);
    }
}
