using HealthTrain.Station.Execution;

namespace HealthTrain.Station.Tests.Execution;

public sealed class OutputWatcherTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-watch-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Write(string relative, int bytes)
    {
        var path = Path.Combine(_dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[bytes]);
    }

    [Fact]
    public void Output_within_the_limits_passes()
    {
        Write("statistics.json", 600);
        Write("a/b/c.bin", 400);
        Assert.Null(OutputWatcher.Check(_dir, new OutputLimits(1000, 4)));
    }

    [Fact]
    public void Bytes_over_the_cap_anywhere_in_the_tree_stop_the_train()
    {
        Write("statistics.json", 600);
        Write("a/b/c.bin", 401);
        Assert.Equal("the train wrote more than the station's output cap of 1000 bytes to /output and was stopped (1001 bytes seen)",
            OutputWatcher.Check(_dir, new OutputLimits(1000, 100)));
    }

    [Fact]
    public void Too_many_entries_stop_the_train()
    {
        for (var i = 0; i < 5; i++) Write($"d/f{i}", 0);
        Assert.Equal("the train created more than the station's limit of 5 files and folders in /output and was stopped",
            OutputWatcher.Check(_dir, new OutputLimits(1000, 5)));
    }

    [Fact]
    public void Links_are_counted_but_never_followed()
    {
        var elsewhere = Directory.CreateTempSubdirectory("ht-watch-elsewhere-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(elsewhere, "big"), new byte[5000]);
            Directory.CreateSymbolicLink(Path.Combine(_dir, "dir-link"), elsewhere);
            File.CreateSymbolicLink(Path.Combine(_dir, "file-link"), Path.Combine(elsewhere, "big"));
            var scan = OutputScan.Of(_dir, 100);
            Assert.Equal(["dir-link", "file-link"], scan.Entries.Select(e => e.RelativePath).Order(StringComparer.Ordinal));
            Assert.All(scan.Entries, e => Assert.Equal(UnixFileKind.SymbolicLink, e.Status.Kind));
            Assert.Equal(0, scan.Bytes);
            Assert.Null(OutputWatcher.Check(_dir, new OutputLimits(1000, 100)));
        }
        finally
        {
            Directory.Delete(elsewhere, recursive: true);
        }
    }

    [Fact]
    public void The_scan_reports_real_kinds_and_link_counts()
    {
        Write("plain", 3);
        SpecialFiles.HardLink(Path.Combine(_dir, "second-name"), Path.Combine(_dir, "plain"));
        SpecialFiles.MakeFifo(Path.Combine(_dir, "pipe"));
        Directory.CreateDirectory(Path.Combine(_dir, "folder"));
        var kinds = OutputScan.Of(_dir, 100).Entries.ToDictionary(e => e.RelativePath, e => e.Status);
        Assert.Equal(new UnixFileStatus(UnixFileKind.Regular, 3, 2), kinds["plain"]);
        Assert.Equal(UnixFileKind.Fifo, kinds["pipe"].Kind);
        Assert.Equal(UnixFileKind.Directory, kinds["folder"].Kind);
    }

    [Fact]
    public async Task The_watch_reports_once_the_output_grows_past_the_cap()
    {
        var limits = new OutputLimits(1000, 100) { Interval = TimeSpan.FromMilliseconds(20) };
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var watch = OutputWatcher.WatchAsync(_dir, limits, cts.Token);
        Write("statistics.json", 10);
        Write("blob", 2000);
        Assert.Equal("the train wrote more than the station's output cap of 1000 bytes to /output and was stopped (2010 bytes seen)", await watch);
    }

    [Fact]
    public async Task An_ended_watch_reports_nothing()
    {
        using var cts = new CancellationTokenSource();
        var watch = OutputWatcher.WatchAsync(_dir, new OutputLimits(1000, 100) { Interval = TimeSpan.FromMilliseconds(20) }, cts.Token);
        await cts.CancelAsync();
        Assert.Null(await watch);
    }
}
