namespace HealthTrain.Cli.Images;

/// <summary>
/// A cross-process lock on a file under the cache directory, so two CLI or test processes never
/// run apt, publish into the same obj folder or build the same tag at once. On Unix .NET maps
/// <see cref="FileShare.None"/> to an advisory flock, which the kernel releases if the process dies.
/// </summary>
internal sealed class CacheLock : IDisposable
{
    private readonly FileStream stream;

    private CacheLock(FileStream stream) => this.stream = stream;

    public static async Task<CacheLock> AcquireAsync(string path, Action<string>? onWait, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var told = false;
        while (true)
        {
            try
            {
                return new CacheLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException)
            {
                if (!told) onWait?.Invoke($"waiting for another HealthTrain build holding {path}");
                told = true;
                await Task.Delay(250, cancellationToken);
            }
        }
    }

    public void Dispose() => stream.Dispose();
}
