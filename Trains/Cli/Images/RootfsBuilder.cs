namespace HealthTrain.Cli.Images;

/// <summary>
/// Assembles the trixie base rootfs from .debs: <c>dpkg-deb -x</c> each one (no maintainer scripts),
/// drops the recipe's excluded paths, adds the usr-merge links and the few files a container needs
/// (users, groups, a sticky /tmp). Nothing here runs code from the packages.
/// </summary>
internal sealed class RootfsBuilder(Action<string> log)
{
    private static readonly string[] MergedDirectories = ["bin", "sbin", "lib", "lib64"];
    private const UnixFileMode StickyWorldWritable = (UnixFileMode)0b1_111_111_111; // 1777
    private const UnixFileMode OwnerOnly = (UnixFileMode)0b111_000_000; // 0700

    public async Task BuildAsync(string rootfs, BaseRecipe recipe, IReadOnlyList<ResolvedPackage> packages, IReadOnlyList<string> debs, CancellationToken cancellationToken)
    {
        if (Directory.Exists(rootfs)) Directory.Delete(rootfs, recursive: true);
        Directory.CreateDirectory(rootfs);
        var statusDirectory = Path.Combine(rootfs, "var", "lib", "dpkg", "status.d");
        Directory.CreateDirectory(statusDirectory);
        for (var i = 0; i < debs.Count; i++)
        {
            log($"unpacking {packages[i]}");
            await ProcessRunner.RunCheckedAsync($"dpkg-deb -x {Path.GetFileName(debs[i])}", "dpkg-deb", ["-x", debs[i], rootfs], cancellationToken: cancellationToken);
            // status.d (as in distroless images) lets image scanners see which package versions are inside.
            var control = await ProcessRunner.RunCheckedAsync("dpkg-deb -f", "dpkg-deb", ["-f", debs[i]], cancellationToken: cancellationToken);
            WriteFile(Path.Combine(statusDirectory, packages[i].Name), string.Join('\n', control.Output) + "\n");
        }
        foreach (var exclude in recipe.Excludes) Exclude(rootfs, exclude);
        foreach (var name in MergedDirectories) MergeIntoUsr(rootfs, name);
        WriteSystemFiles(rootfs);
    }

    private void Exclude(string rootfs, string relativePath)
    {
        var parts = relativePath.Split('/');
        var path = rootfs;
        foreach (var part in parts)
        {
            // A link along the way could point outside the rootfs (packages ship absolute links).
            if (new FileInfo(path).LinkTarget is not null)
                throw new ImageBuildException($"exclude '{relativePath}' passes through a symbolic link; name the real path");
            path = Path.Combine(path, part);
        }
        var info = new FileInfo(path);
        if (info.LinkTarget is not null || File.Exists(path)) File.Delete(path);
        else if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        else log($"note: exclude '{relativePath}' matched nothing");
    }

    /// <summary>
    /// Makes /name a link to usr/name (Debian's merged-/usr layout, which the ELF interpreter path
    /// /lib64/ld-linux-x86-64.so.2 relies on). A real /name from some package is moved into usr first.
    /// </summary>
    private static void MergeIntoUsr(string rootfs, string name)
    {
        var top = Path.Combine(rootfs, name);
        var usr = Path.Combine(rootfs, "usr", name);
        var topInfo = new DirectoryInfo(top);
        if (topInfo.LinkTarget is not null) return;
        Directory.CreateDirectory(usr);
        if (topInfo.Exists)
        {
            MoveContents(top, usr);
            Directory.Delete(top);
        }
        File.CreateSymbolicLink(top, "usr/" + name);
    }

    private static void MoveContents(string from, string to)
    {
        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
        {
            var target = Path.Combine(to, entry.Name);
            var entryIsRealDirectory = entry is DirectoryInfo && entry.LinkTarget is null;
            var targetIsLink = new FileInfo(target).LinkTarget is not null;
            var targetIsRealDirectory = !targetIsLink && Directory.Exists(target);
            if (entryIsRealDirectory && targetIsRealDirectory)
            {
                MoveContents(entry.FullName, target);
                Directory.Delete(entry.FullName);
            }
            else if (targetIsLink || Path.Exists(target))
                throw new ImageBuildException($"usr-merge conflict: {entry.FullName} and {target} both exist");
            else if (entryIsRealDirectory) Directory.Move(entry.FullName, target);
            else File.Move(entry.FullName, target); // rename(2): a symlink moves as a link
        }
    }

    private static void WriteSystemFiles(string rootfs)
    {
        var etc = Path.Combine(rootfs, "etc");
        Directory.CreateDirectory(etc);
        WriteFile(Path.Combine(etc, "passwd"),
            "root:x:0:0:root:/root:/usr/sbin/nologin\n" +
            $"train:x:{BaseImageBuilder.TrainUserId}:{BaseImageBuilder.TrainUserId}:HealthTrain train:/tmp:/usr/sbin/nologin\n" +
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
        WriteFile(Path.Combine(etc, "group"), $"root:x:0:\ntrain:x:{BaseImageBuilder.TrainUserId}:\nnogroup:x:65534:\n");
        // glibc would fall back to the same, but an explicit file keeps lookups off any network service.
        WriteFile(Path.Combine(etc, "nsswitch.conf"), "passwd: files\ngroup: files\nshadow: files\nhosts: files\n");
        WriteFile(Path.Combine(rootfs, "usr", "lib", "os-release"),
            "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\n" +
            "VERSION=\"13 (trixie)\"\nVERSION_CODENAME=trixie\nID=debian\nHOME_URL=\"https://www.debian.org/\"\n");
        var osRelease = Path.Combine(etc, "os-release");
        if (!File.Exists(osRelease)) File.CreateSymbolicLink(osRelease, "../usr/lib/os-release");

        foreach (var tmp in new[] { "tmp", Path.Combine("var", "tmp") })
        {
            var path = Path.Combine(rootfs, tmp);
            Directory.CreateDirectory(path);
            File.SetUnixFileMode(path, StickyWorldWritable);
        }
        var root = Path.Combine(rootfs, "root");
        Directory.CreateDirectory(root);
        File.SetUnixFileMode(root, OwnerOnly);
    }

    private static void WriteFile(string path, string content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, TarBuilder.ReadOnlyMode);
    }
}
