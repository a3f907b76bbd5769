using System.Runtime.InteropServices;

namespace HealthTrain.Station.Execution;

/// <summary>What kind of file system entry a path is, as the kernel says: .NET reports FIFOs, sockets and devices as plain files.</summary>
public enum UnixFileKind
{
    Regular,
    Directory,
    SymbolicLink,
    Fifo,
    Socket,
    CharacterDevice,
    BlockDevice,
    Unknown,
}

/// <summary>One path's type, size and link count, read with <c>statx</c> without following a final symbolic link.</summary>
public readonly record struct UnixFileStatus(UnixFileKind Kind, long Bytes, long Links)
{
    private const int AtSymlinkNoFollow = 0x100;
    private const int AtFdCwd = -100;
    private const uint StatxBasicStats = 0x7ff;

    /// <summary>The entry at <paramref name="path"/>, or null when it no longer exists.</summary>
    /// <exception cref="IOException">The kernel refused to describe it (other than "not found").</exception>
    public static UnixFileStatus? Of(string path)
    {
        // statx's buffer layout is the same on every architecture, unlike struct stat.
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, out var buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) return null; // ENOENT, ENOTDIR: removed meanwhile
            throw new IOException($"cannot inspect {path}: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        var kind = (buffer.Mode & 0xF000) switch
        {
            0x8000 => UnixFileKind.Regular,
            0x4000 => UnixFileKind.Directory,
            0xA000 => UnixFileKind.SymbolicLink,
            0x1000 => UnixFileKind.Fifo,
            0xC000 => UnixFileKind.Socket,
            0x2000 => UnixFileKind.CharacterDevice,
            0x6000 => UnixFileKind.BlockDevice,
            _ => UnixFileKind.Unknown,
        };
        return new UnixFileStatus(kind, (long)buffer.Size, buffer.Links);
    }

    /// <summary>Words for a kind, as a job's error names it.</summary>
    public static string Describe(UnixFileKind kind) => kind switch
    {
        UnixFileKind.Regular => "file",
        UnixFileKind.Directory => "folder",
        UnixFileKind.SymbolicLink => "symbolic link",
        UnixFileKind.Fifo => "named pipe",
        UnixFileKind.Socket => "socket",
        UnixFileKind.CharacterDevice => "character device",
        UnixFileKind.BlockDevice => "block device",
        _ => "unknown file type",
    };

    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxBuffer
    {
        [FieldOffset(16)] public uint Links;
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(40)] public ulong Size;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, out StatxBuffer buffer);
}
