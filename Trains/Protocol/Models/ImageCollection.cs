using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace HealthTrain.Trains.Protocol.Models;

/// <summary>
/// An image collection as a station delivers it to a training train (<c>/input/images/NAME.safetensors</c>): tensor
/// <c>images</c>, uint8 [N, H, W] (grey levels, row-major), and tensor <c>labels</c>, int64 [N].
/// </summary>
public sealed record ImageCollection(int Count, int Height, int Width, byte[] Images, long[] Labels)
{
    /// <summary>The images tensor's name.</summary>
    public const string ImagesTensor = "images";

    /// <summary>The labels tensor's name.</summary>
    public const string LabelsTensor = "labels";

    /// <summary>The pixels of image <paramref name="index"/>.</summary>
    public ReadOnlySpan<byte> Image(int index) => Images.AsSpan(checked(index * Height * Width), Height * Width);

    /// <summary>Reads and checks a collection; a malformed file throws <see cref="SafeTensorsException"/>.</summary>
    public static ImageCollection Read(Stream stream)
    {
        var header = SafeTensors.ReadHeader(stream);
        var images = header.Find(ImagesTensor) ?? throw new SafeTensorsException($"an image collection needs a tensor '{ImagesTensor}'");
        var labels = header.Find(LabelsTensor) ?? throw new SafeTensorsException($"an image collection needs a tensor '{LabelsTensor}'");
        if (header.Tensors.Count != 2) throw new SafeTensorsException($"an image collection holds exactly '{ImagesTensor}' and '{LabelsTensor}', not {header.Tensors.Count} tensors");
        if (images.Dtype != "uint8" || images.Shape.Count != 3)
            throw new SafeTensorsException($"'{ImagesTensor}' must be uint8 [N, H, W], not {SafeTensors.Describe(images.Name, images.Dtype, images.Shape)}");
        if (labels.Dtype != "int64" || labels.Shape.Count != 1 || labels.Shape[0] != images.Shape[0])
            throw new SafeTensorsException($"'{LabelsTensor}' must be int64 [{images.Shape[0]}], not {SafeTensors.Describe(labels.Name, labels.Dtype, labels.Shape)}");
        var pixels = new byte[images.Length];
        stream.Position = header.DataStart + images.Offset;
        stream.ReadExactly(pixels);
        var labelBytes = new byte[labels.Length];
        stream.Position = header.DataStart + labels.Offset;
        stream.ReadExactly(labelBytes);
        var values = new long[labels.Shape[0]];
        for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt64LittleEndian(labelBytes.AsSpan(i * 8));
        return new ImageCollection(checked((int)images.Shape[0]), checked((int)images.Shape[1]), checked((int)images.Shape[2]), pixels, values);
    }

    /// <summary>Writes the collection as a safetensors document.</summary>
    public void Write(Stream stream)
    {
        if (Images.Length != (long)Count * Height * Width) throw new InvalidOperationException($"{Images.Length} pixel bytes for {Count} images of {Height}×{Width}");
        if (Labels.Length != Count) throw new InvalidOperationException($"{Labels.Length} labels for {Count} images");
        var labelBytes = new byte[Labels.Length * 8];
        if (BitConverter.IsLittleEndian) MemoryMarshal.AsBytes(Labels.AsSpan()).CopyTo(labelBytes);
        else for (var i = 0; i < Labels.Length; i++) BinaryPrimitives.WriteInt64LittleEndian(labelBytes.AsSpan(i * 8), Labels[i]);
        SafeTensors.Write(stream,
        [
            new SafeTensor(ImagesTensor, "uint8", [Count, Height, Width], Images),
            new SafeTensor(LabelsTensor, "int64", [Count], labelBytes),
        ]);
    }
}
