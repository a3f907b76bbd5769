using System.IO.Compression;
using System.Text;
using HealthTrain.Cli.Data;

namespace HealthTrain.Trains.Tests.Training;

public sealed class NpzImagesTests : IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"healthtrain-npz-{Guid.NewGuid():N}.npz");

    public void Dispose() => File.Delete(path);

    private static byte[] Npy(string descr, int[] shape, byte[] data)
    {
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), }}";
        header = header.PadRight((header.Length + 10 + 64) / 64 * 64 - 10 - 1) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange("NUMPY"u8.ToArray());
        bytes.AddRange([1, 0, (byte)(header.Length & 0xff), (byte)(header.Length >> 8)]);
        bytes.AddRange(Encoding.Latin1.GetBytes(header));
        bytes.AddRange(data);
        return [.. bytes];
    }

    private void WriteNpz(params (string Name, byte[] Content)[] arrays)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, content) in arrays)
        {
            using var s = zip.CreateEntry(name + ".npy").Open();
            s.Write(content);
        }
    }

    [Fact]
    public void A_medmnist_split_becomes_an_image_collection()
    {
        WriteNpz(("val_images", Npy("|u1", [3, 2, 2], [.. Enumerable.Range(0, 12).Select(i => (byte)i)])), ("val_labels", Npy("|u1", [3, 1], [1, 0, 1])));
        var collection = NpzImages.Read(path, "val");
        Assert.Equal((3, 2, 2), (collection.Count, collection.Height, collection.Width));
        Assert.Equal([1L, 0L, 1L], collection.Labels);
        Assert.Equal([8, 9, 10, 11], collection.Image(2).ToArray());
        Assert.Equal(2, NpzImages.Read(path, "val", limit: 2).Count);
        Assert.Contains("no array 'train_images'", Assert.Throws<InvalidDataException>(() => NpzImages.Read(path, "train")).Message);
    }

    [Fact]
    public void Images_that_are_not_uint8_are_refused()
    {
        WriteNpz(("val_images", Npy("<f4", [1, 1, 1], [0, 0, 0, 0])), ("val_labels", Npy("|u1", [1], [0])));
        Assert.Contains("must be uint8", Assert.Throws<InvalidDataException>(() => NpzImages.Read(path, "val")).Message);
    }
}
