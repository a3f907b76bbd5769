using System.Text;
using Docker.DotNet;

namespace HealthTrain.Cli.Images;

/// <summary>
/// The .NET runtime files baked into <c>healthtrain/dotnet-runtime</c>'s /app, as written to
/// <see cref="ImagePath"/>: one <c>sha256  relative/path</c> line each (the <c>sha256sum</c> format),
/// sorted ordinally. A train's published file with the same path and hash is left out of its layer.
/// </summary>
public sealed class RuntimeFileList
{
    /// <summary>Where the list lives inside the runtime image.</summary>
    public const string ImagePath = "/app/.healthtrain-runtime-files";

    private readonly SortedDictionary<string, string> files;

    private RuntimeFileList(SortedDictionary<string, string> files)
    {
        this.files = files;
        var text = new StringBuilder();
        foreach (var (path, sha256) in files) text.Append(sha256).Append("  ").Append(path).Append('\n');
        Text = text.ToString();
        Sha256 = Hashing.Sha256Hex(Text);
    }

    /// <summary>Relative path (with '/') to lower-case hex SHA-256.</summary>
    public IReadOnlyDictionary<string, string> Files => files;

    /// <summary>The list in its file format.</summary>
    public string Text { get; }

    /// <summary>SHA-256 of <see cref="Text"/>: identifies the exact runtime.</summary>
    public string Sha256 { get; }

    /// <summary>True when the runtime image already holds this exact file at this path.</summary>
    public bool Contains(string relativePath, string sha256) =>
        files.TryGetValue(relativePath, out var known) && known == sha256;

    /// <summary>Lists every file under <paramref name="directory"/> that <paramref name="include"/> accepts (given the relative path).</summary>
    public static RuntimeFileList FromDirectory(string directory, Func<string, bool> include)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (relative, full) in EnumerateFiles(directory))
            if (include(relative)) files[relative] = Hashing.Sha256HexOfFile(full);
        return new RuntimeFileList(files);
    }

    /// <summary>Both lists' files; where a path is in both, <paramref name="second"/>'s hash wins.</summary>
    public static RuntimeFileList Union(RuntimeFileList first, RuntimeFileList second)
    {
        var files = new SortedDictionary<string, string>(first.files, StringComparer.Ordinal);
        foreach (var (path, sha256) in second.files) files[path] = sha256;
        return new RuntimeFileList(files);
    }

    public static RuntimeFileList Parse(string text)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var separator = line.IndexOf("  ", StringComparison.Ordinal);
            if (separator != 64 || line.Length <= 66)
                throw new FormatException($"not a 'sha256  path' line in a runtime file list: '{line}'");
            files[line[66..]] = line[..64];
        }
        return new RuntimeFileList(files);
    }

    /// <summary>Reads the list baked into a runtime image (or any image built FROM one) without running it.</summary>
    public static async Task<RuntimeFileList> ReadFromImageAsync(IDockerClient docker, string image, CancellationToken cancellationToken = default) =>
        Parse(Encoding.UTF8.GetString(await DockerImages.ReadFileAsync(docker, image, ImagePath, cancellationToken)));

    /// <summary>Regular files under <paramref name="directory"/>, as ('/'-separated relative path, full path), sorted ordinally.</summary>
    internal static IEnumerable<(string Relative, string Full)> EnumerateFiles(string directory) =>
        Directory.EnumerateFiles(directory, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(full => (Path.GetRelativePath(directory, full).Replace(Path.DirectorySeparatorChar, '/'), full))
            .OrderBy(f => f.Item1, StringComparer.Ordinal);
}
