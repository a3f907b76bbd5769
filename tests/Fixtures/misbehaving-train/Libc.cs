using System.Runtime.InteropServices;

namespace HealthTrain.Fixtures.MisbehavingTrain;

/// <summary>The few system calls the attacks need that .NET does not offer.</summary>
internal static class Libc
{
    public const int SigKill = 9;

    [DllImport("libc", SetLastError = true)]
    public static extern int fork();

    [DllImport("libc", SetLastError = true)]
    public static extern int pause();

    [DllImport("libc", SetLastError = true)]
    public static extern int kill(int pid, int signal);

    [DllImport("libc", SetLastError = true)]
    public static extern int waitpid(int pid, IntPtr status, int options);

    [DllImport("libc", SetLastError = true)]
    public static extern int mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);

    [DllImport("libc", SetLastError = true)]
    public static extern int mknod([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode, ulong device);

    [DllImport("libc", SetLastError = true)]
    public static extern int link([MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);

    /// <summary>Throws with the C library's message when a call returned -1.</summary>
    public static int Check(int result, string call) =>
        result >= 0 ? result : throw new IOException($"{call}: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
}
