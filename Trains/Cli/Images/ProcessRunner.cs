using System.Diagnostics;

namespace HealthTrain.Cli.Images;

/// <summary>The outcome of one external command: its exit code and its stdout and stderr lines, interleaved.</summary>
internal sealed record ProcessResult(int ExitCode, IReadOnlyList<string> Output)
{
    /// <summary>The last <paramref name="count"/> lines, for error messages that must stay readable.</summary>
    public string Tail(int count = 40) => string.Join(Environment.NewLine, Output.TakeLast(count));
}

/// <summary>Runs external tools (apt-get, dpkg-deb, dotnet) without a shell, capturing their output.</summary>
internal static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null,
        Action<string>? onLine = null,
        CancellationToken cancellationToken = default)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;

        var output = new List<string>();
        void Collect(string? line)
        {
            if (line is null) return;
            lock (output) output.Add(line);
            onLine?.Invoke(line);
        }

        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ImageBuildException($"cannot run '{fileName}': {e.Message}", e);
        }
        process.StandardInput.Close(); // tools must never wait for a prompt answer
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already gone */ }
            throw;
        }
        lock (output) return new ProcessResult(process.ExitCode, output.ToArray());
    }

    /// <summary>Runs the command and throws <see cref="ImageBuildException"/> with the output's tail when it fails.</summary>
    public static async Task<ProcessResult> RunCheckedAsync(
        string what,
        string fileName,
        IEnumerable<string> arguments,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null,
        Action<string>? onLine = null,
        CancellationToken cancellationToken = default)
    {
        var result = await RunAsync(fileName, arguments, workingDirectory, environment, onLine, cancellationToken);
        if (result.ExitCode != 0)
            throw new ImageBuildException($"{what} failed (exit code {result.ExitCode}); last output:{Environment.NewLine}{result.Tail()}");
        return result;
    }
}
