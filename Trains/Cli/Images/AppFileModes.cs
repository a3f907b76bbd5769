namespace HealthTrain.Cli.Images;

/// <summary>
/// Modes for files copied to /app. NuGet extracts runtime files as 0744, so the on-disk mode says
/// nothing; instead ELF executables (the apphost, createdump) get 0755 and everything else 0644:
/// root-owned, readable by the train user, writable by no one but root.
/// </summary>
internal static class AppFileModes
{
    public static UnixFileMode For(string path)
    {
        var name = Path.GetFileName(path);
        if (name.EndsWith(".so", StringComparison.Ordinal) || name.Contains(".so.", StringComparison.Ordinal)) return TarBuilder.ReadOnlyMode;
        Span<byte> magic = stackalloc byte[4];
        using var stream = File.OpenRead(path);
        var isElf = stream.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4
            && magic[0] == 0x7f && magic[1] == (byte)'E' && magic[2] == (byte)'L' && magic[3] == (byte)'F';
        return isElf ? TarBuilder.ExecutableMode : TarBuilder.ReadOnlyMode;
    }
}
