using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text.Json;
using Docker.DotNet;

namespace HealthTrain.Station.Inspection;

/// <summary>
/// Every file of an image as its container sees it (layers applied in order, whiteouts honoured), each with a content
/// fingerprint: a regular file's size, mode and SHA-256, a link's target. Read from <c>docker save</c> of the local
/// image, so it describes exactly what would run. Compared between versions it tells an operator what a new version changed.
/// </summary>
public static class ImageFileIndex
{
    private const string Whiteout = ".wh.";
    private const string OpaqueWhiteout = ".wh..wh..opq";

    /// <summary>Reads the image's files (path without leading slash → fingerprint); directories are left out.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> ReadAsync(DockerClient docker, string imageId, CancellationToken ct)
    {
        // Spooled to a temporary file first: Docker.DotNet's response stream ends early under the tar reader's nested reads.
        var spool = Path.Combine(Path.GetTempPath(), $"healthtrain-save-{Guid.NewGuid():N}.tar");
        try
        {
            await using (var saved = await docker.Images.SaveImageAsync(imageId, ct))
            await using (var file = new FileStream(spool, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                await saved.CopyToAsync(file, ct);
            await using var read = new FileStream(spool, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            return await ReadSavedAsync(read, ct);
        }
        finally
        {
            File.Delete(spool);
        }
    }

    /// <summary>Reads a <c>docker save</c> archive (legacy layout: <c>manifest.json</c> and <c>ID/layer.tar</c>, or OCI blobs).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> ReadSavedAsync(Stream saved, CancellationToken ct)
    {
        // The manifest that orders the layers comes after them in the archive, so each layer is listed as it passes.
        var layers = new Dictionary<string, List<LayerEntry>>(StringComparer.Ordinal);
        List<string>? order = null;
        await using var archive = new TarReader(saved);
        while (await archive.GetNextEntryAsync(copyData: false, ct) is { } entry)
        {
            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || entry.DataStream is null) continue;
            if (entry.Name == "manifest.json")
            {
                using var json = await JsonDocument.ParseAsync(entry.DataStream, cancellationToken: ct);
                order = [.. json.RootElement[0].GetProperty("Layers").EnumerateArray().Select(l => l.GetString()!)];
            }
            else if (entry.Name.EndsWith("/layer.tar", StringComparison.Ordinal) || entry.Name.StartsWith("blobs/sha256/", StringComparison.Ordinal))
            {
                var listed = await TryListLayerAsync(entry.DataStream, ct);
                if (listed is not null) layers[entry.Name] = listed;
            }
        }
        if (order is null) throw new InvalidDataException("the saved image has no manifest.json");

        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in order)
        {
            if (!layers.TryGetValue(name, out var entries)) throw new InvalidDataException($"the saved image lacks its layer {name}");
            Apply(files, entries);
        }
        return files;
    }

    /// <summary>Paths added, changed and removed from <paramref name="before"/> to <paramref name="after"/>.</summary>
    public static (IReadOnlyList<string> Added, IReadOnlyList<string> Changed, IReadOnlyList<string> Removed) Diff(
        IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after)
    {
        var added = after.Keys.Where(k => !before.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var removed = before.Keys.Where(k => !after.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var changed = after.Where(kv => before.TryGetValue(kv.Key, out var old) && old != kv.Value).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        return (added, changed, removed);
    }

    private sealed record LayerEntry(string Path, string? Fingerprint);

    /// <summary>A layer's entries in archive order (a null fingerprint is a whiteout or directory), or null when the blob is not a tar.</summary>
    private static async Task<List<LayerEntry>?> TryListLayerAsync(Stream layer, CancellationToken ct)
    {
        var entries = new List<LayerEntry>();
        try
        {
            await using var reader = new TarReader(layer, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, ct) is { } e)
            {
                var path = Normalize(e.Name);
                if (path.Length == 0) continue;
                string? fingerprint = e.EntryType switch
                {
                    TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile =>
                        $"file {e.Length} {Mode(e)} sha256:{await HashAsync(e.DataStream, ct)}",
                    TarEntryType.SymbolicLink => $"symlink -> {e.LinkName}",
                    TarEntryType.HardLink => $"hardlink -> /{Normalize(e.LinkName)}",
                    TarEntryType.Directory => null,
                    _ => $"{e.EntryType.ToString().ToLowerInvariant()} {Mode(e)}",
                };
                entries.Add(new LayerEntry(path, fingerprint));
            }
        }
        catch (InvalidDataException)
        {
            return null; // an OCI config or manifest blob, not a layer
        }
        return entries;
    }

    private static void Apply(SortedDictionary<string, string> files, List<LayerEntry> entries)
    {
        foreach (var entry in entries)
        {
            var name = Path.GetFileName(entry.Path);
            var dir = Path.GetDirectoryName(entry.Path) ?? "";
            var prefix = dir.Length == 0 ? "" : dir + "/";
            if (name == OpaqueWhiteout)
            {
                // An opaque directory hides everything the lower layers had in it.
                foreach (var key in files.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList()) files.Remove(key);
            }
            else if (name.StartsWith(Whiteout, StringComparison.Ordinal))
            {
                var target = prefix + name[Whiteout.Length..];
                files.Remove(target);
                foreach (var key in files.Keys.Where(k => k.StartsWith(target + "/", StringComparison.Ordinal)).ToList()) files.Remove(key);
            }
            else if (entry.Fingerprint is { } f)
            {
                files[entry.Path] = f;
            }
        }
    }

    private static string Normalize(string name)
    {
        if (name.StartsWith("./", StringComparison.Ordinal)) name = name[2..];
        return name.TrimStart('/').TrimEnd('/');
    }

    private static string Mode(TarEntry e) => Convert.ToString((int)e.Mode, 8);

    private static async Task<string> HashAsync(Stream? data, CancellationToken ct) =>
        data is null ? Convert.ToHexStringLower(SHA256.HashData([])) : Convert.ToHexStringLower(await SHA256.HashDataAsync(data, ct));
}
