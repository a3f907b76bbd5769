using System.Formats.Tar;
using System.Text;

namespace HealthTrain.Cli.Images;

/// <summary>
/// Writes image tars (a rootfs for <c>docker import</c>, a build context) with System.Formats.Tar.
/// Every entry is owned by root:root and carries a fixed time, so the same input gives the same
/// bytes; symlinks stay symlinks and modes are taken from the file system or given explicitly.
/// </summary>
internal sealed class TarBuilder(Stream output) : IDisposable
{
    /// <summary>All entries get this time: content, not build time, should decide a layer's digest.</summary>
    public static readonly DateTimeOffset FixedTime = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public const UnixFileMode DirectoryMode = (UnixFileMode)0b111_101_101; // 0755
    public const UnixFileMode ExecutableMode = (UnixFileMode)0b111_101_101; // 0755
    public const UnixFileMode ReadOnlyMode = (UnixFileMode)0b110_100_100; // 0644

    private readonly TarWriter writer = new(output, TarEntryFormat.Pax, leaveOpen: true);

    public long FileCount { get; private set; }
    public long FileBytes { get; private set; }

    public void AddDirectory(string name, UnixFileMode mode = DirectoryMode) =>
        writer.WriteEntry(Entry(TarEntryType.Directory, name.TrimEnd('/') + "/", mode));

    public void AddFile(string name, string sourcePath, UnixFileMode mode)
    {
        using var data = File.OpenRead(sourcePath);
        var entry = Entry(TarEntryType.RegularFile, name, mode);
        entry.DataStream = data;
        writer.WriteEntry(entry);
        FileCount++;
        FileBytes += data.Length;
    }

    public void AddText(string name, string content, UnixFileMode mode = ReadOnlyMode)
    {
        var entry = Entry(TarEntryType.RegularFile, name, mode);
        var bytes = Encoding.UTF8.GetBytes(content);
        entry.DataStream = new MemoryStream(bytes);
        writer.WriteEntry(entry);
        FileCount++;
        FileBytes += bytes.Length;
    }

    public void AddSymlink(string name, string target)
    {
        var entry = Entry(TarEntryType.SymbolicLink, name, (UnixFileMode)0b111_111_111);
        entry.LinkName = target;
        writer.WriteEntry(entry);
    }

    /// <summary>
    /// Adds everything under <paramref name="root"/> (not the root itself), sorted ordinally, with each
    /// entry's mode as on disk. Symlinks are stored, never followed, so a link cannot pull host files in.
    /// </summary>
    public void AddTree(string root, string prefix = "")
    {
        foreach (var info in new DirectoryInfo(root).EnumerateFileSystemInfos().OrderBy(i => i.Name, StringComparer.Ordinal))
        {
            var name = prefix + info.Name;
            if (info.LinkTarget is { } target) AddSymlink(name, target);
            else if (info is DirectoryInfo dir)
            {
                AddDirectory(name, dir.UnixFileMode);
                AddTree(dir.FullName, name + "/");
            }
            else AddFile(name, info.FullName, info.UnixFileMode);
        }
    }

    /// <summary>
    /// Adds <paramref name="prefix"/>/ and the given files from <paramref name="sourceDirectory"/> under it,
    /// with every parent directory and with <see cref="AppFileModes"/>: the layout of /app in an image.
    /// </summary>
    public void AddAppFiles(string prefix, string sourceDirectory, IEnumerable<string> relativePaths)
    {
        var paths = relativePaths.Order(StringComparer.Ordinal).ToList();
        var directories = new SortedSet<string>(StringComparer.Ordinal) { prefix };
        foreach (var path in paths)
            for (var dir = Path.GetDirectoryName(path); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
                directories.Add(prefix + "/" + dir);
        foreach (var dir in directories) AddDirectory(dir);
        foreach (var path in paths)
        {
            var source = Path.Combine(sourceDirectory, path);
            AddFile(prefix + "/" + path, source, AppFileModes.For(source));
        }
    }

    private static PaxTarEntry Entry(TarEntryType type, string name, UnixFileMode mode) =>
        // An explicit (empty) attribute set keeps atime/ctime of "now" out of the archive.
        new(type, name, new Dictionary<string, string>())
        {
            Mode = mode,
            Uid = 0,
            Gid = 0,
            UserName = "root",
            GroupName = "root",
            ModificationTime = FixedTime,
        };

    public void Dispose() => writer.Dispose();
}
