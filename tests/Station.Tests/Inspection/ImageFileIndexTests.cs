using System.Formats.Tar;
using System.Text;
using HealthTrain.Station.Inspection;

namespace HealthTrain.Station.Tests.Inspection;

public class ImageFileIndexTests
{
    [Fact]
    public async Task Layers_apply_in_manifest_order_with_whiteouts_and_opaque_directories()
    {
        var saved = Saved(
            ("base", [File("app/a.dll", "a1"), File("app/b.dll", "b1"), File("etc/conf", "c"), File("opt/x/1", "1"), File("opt/x/2", "2")]),
            ("top", [File("app/a.dll", "a2"), Entry("app/.wh.b.dll"), Entry("opt/x/.wh..wh..opq"), File("opt/x/3", "3"), Link("app/current", "a.dll")]));

        var files = await ImageFileIndex.ReadSavedAsync(saved, CancellationToken.None);

        Assert.Equal(["app/a.dll", "app/current", "etc/conf", "opt/x/3"], files.Keys);
        Assert.StartsWith("file 2 644 sha256:", files["app/a.dll"]);
        Assert.Equal("symlink -> a.dll", files["app/current"]);
    }

    [Fact]
    public async Task Diff_names_added_changed_and_removed_files()
    {
        var before = await ImageFileIndex.ReadSavedAsync(Saved(("l", [File("a", "1"), File("b", "1"), File("c", "1")])), CancellationToken.None);
        var after = await ImageFileIndex.ReadSavedAsync(Saved(("l", [File("a", "1"), File("b", "2"), File("d", "1")])), CancellationToken.None);

        var (added, changed, removed) = ImageFileIndex.Diff(before, after);

        Assert.Equal(["d"], added);
        Assert.Equal(["b"], changed);
        Assert.Equal(["c"], removed);
    }

    [Fact]
    public async Task A_saved_image_without_its_manifest_is_refused()
    {
        using var ms = new MemoryStream();
        using (var w = new TarWriter(ms, leaveOpen: true)) { }
        ms.Position = 0;
        await Assert.ThrowsAsync<InvalidDataException>(() => ImageFileIndex.ReadSavedAsync(ms, CancellationToken.None));
    }

    private static TarEntry File(string path, string content) =>
        new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)), Mode = (UnixFileMode)Convert.ToInt32("644", 8) };

    private static TarEntry Entry(string path) => new PaxTarEntry(TarEntryType.RegularFile, path) { DataStream = new MemoryStream() };

    private static TarEntry Link(string path, string target) => new PaxTarEntry(TarEntryType.SymbolicLink, path) { LinkName = target };

    /// <summary>A <c>docker save</c> archive (legacy layout) of the given layers, the manifest last as Docker writes it.</summary>
    private static Stream Saved(params (string Id, TarEntry[] Entries)[] layers)
    {
        var outer = new MemoryStream();
        using (var writer = new TarWriter(outer, leaveOpen: true))
        {
            foreach (var (id, entries) in layers)
            {
                var layer = new MemoryStream();
                using (var inner = new TarWriter(layer, leaveOpen: true))
                    foreach (var e in entries) inner.WriteEntry(e);
                layer.Position = 0;
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, $"{id}/layer.tar") { DataStream = layer });
            }
            var manifest = $$"""[{"Config":"c.json","RepoTags":null,"Layers":[{{string.Join(",", layers.Select(l => $"\"{l.Id}/layer.tar\""))}}]}]""";
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "manifest.json") { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(manifest)) });
        }
        outer.Position = 0;
        return outer;
    }
}
