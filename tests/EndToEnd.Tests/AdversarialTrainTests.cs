using System.Text.Json;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;
using Xunit.Abstractions;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// Trains that attack the station they run at: the network, the file system, the output folder, the process table,
/// the station's secrets, and an image that wants root. Each attack must fail visibly with a recorded reason, and
/// the same station must run the next normal job.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class AdversarialTrainTests(FederationFixture f, ITestOutputHelper output)
{
    /// <summary>A station with small output limits, so the attacks on them are quick and cheap.</summary>
    private const string Adversary = "adversary-clinic";
    /// <summary>A station whose operator chose to run root images as 65532:65532.</summary>
    private const string Remapping = "remapping-clinic";
    private const int Patients = 4;
    private const long OutputCap = 1024 * 1024;
    private const int OutputFiles = 100;

    private static readonly Dictionary<string, Task> Started = [];

    [Theory]
    [InlineData("network", "the hub's port on loopback) -> blocked: ConnectionRefused",
        "resolve host.docker.internal -> blocked: HostNotFound", "tcp 172.17.0.1:2375 (Docker API on the default bridge gateway) -> blocked",
        "tcp 169.254.169.254:80 (cloud metadata) -> blocked", "udp 8.8.8.8:53 -> blocked", "network interfaces -> blocked: only lo")]
    [InlineData("write-outside", "write / -> blocked: Read-only file system", "write /etc -> blocked: Read-only file system",
        "write /usr -> blocked: Read-only file system", "write /input -> blocked: Read-only file system", "write /home -> blocked: Read-only file system",
        "write /var -> blocked: Read-only file system", "fill /tmp (up to 4 GiB) -> blocked: No space left on device : '/tmp/fill' after 16 MiB",
        "execute /tmp/exit42 -> blocked:", "execute /tmp/exit42 through /lib64/ld-linux-x86-64.so.2 -> blocked")]
    [InlineData("fork-bomb", "start threads until refused -> blocked: refused after",
        "fork processes until refused -> blocked: refused after", "Resource temporarily unavailable (errno 11)")]
    [InlineData("secrets", "find /var/run/docker.sock -> blocked", "find /run/docker.sock -> blocked",
        "find a token in the environment -> blocked", "find a token in /proc/1/environ -> blocked",
        "see the host's processes", "fhir.db -> blocked", "read /proc/1/root/", "uid=65532 gid=65532 NoNewPrivs=1",
        "hold capabilities (CapEff=0000000000000000, CapPrm=0000000000000000) -> blocked")]
    public async Task An_attack_is_contained_and_reported_and_the_station_goes_on(string behaviour, params string[] blocked)
    {
        await StationsAsync();
        var job = await RunAtAsync(Adversary, f.Misbehaving.Reference, behaviour);

        Assert.True(job.State == JobStates.Failed, Describe(job));
        // Exit code 10: the train itself saw every attempt fail.
        Assert.Equal("run: the train exited with code 10", job.Error);
        Assert.Equal(10, job.ExitCode);
        foreach (var line in blocked) Assert.Contains(line, job.LogTail);
        Assert.Contains($"misbehaving-train: {behaviour}: contained: all", job.LogTail);
        Assert.DoesNotContain("ESCAPED", job.LogTail);
        await AssertTheNextJobSucceedsAsync(Adversary);
    }

    [Theory]
    [InlineData("write-past-cap", "run: the train wrote more than the station's output cap of 1048576 bytes to /output and was stopped (", "writing 1024 MiB to /output/blob")]
    [InlineData("many-files", "run: the train created more than the station's limit of 100 files and folders in /output and was stopped", "creating 100000 files in /output/many")]
    public async Task A_train_filling_output_is_stopped_while_it_runs(string behaviour, string error, string started)
    {
        await StationsAsync();
        var job = await RunAtAsync(Adversary, f.Misbehaving.Reference, behaviour);

        Assert.True(job.State == JobStates.Failed, Describe(job));
        Assert.StartsWith(error, job.Error);
        Assert.Equal(137, job.ExitCode); // killed
        Assert.Contains(started, job.LogTail);
        Assert.DoesNotContain("NOT CONTAINED", job.LogTail);
        if (behaviour == "write-past-cap")
        {
            // Stopped while it ran: the reason says how much it had written when the station looked, short of the 1 GiB it meant to.
            // (How far past the cap depends on the disk's speed over one watch interval.)
            var seen = long.Parse(job.Error!.Split('(')[^1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(seen, OutputCap + 1, 1024L * 1024 * 1024 - 1);
        }
        await AssertTheNextJobSucceedsAsync(Adversary);
    }

    [Theory]
    [InlineData("special-output", "collect: the train left links or special files in /output: parameters.json (symbolic link), statistics.json (named pipe)")]
    [InlineData("undeclared", "collect: the train wrote undeclared output: patients.csv; only statistics.json is allowed for a statistics train")]
    public async Task Output_the_station_must_not_release_is_refused_at_collection(string behaviour, string error)
    {
        await StationsAsync();
        var job = await RunAtAsync(Adversary, f.Misbehaving.Reference, behaviour);

        Assert.True(job.State == JobStates.Failed, Describe(job));
        Assert.Equal(error, job.Error);
        Assert.Null(job.ResultDigest);
        await AssertTheNextJobSucceedsAsync(Adversary);
    }

    [Fact]
    public async Task A_train_that_never_ends_is_killed_at_its_timeout()
    {
        await StationsAsync();
        var job = await RunAtAsync(Adversary, f.MisbehavingShortTimeout.Reference, "sleep");

        Assert.True(job.State == JobStates.Failed, Describe(job));
        Assert.Equal("run: the train exceeded its timeout of 4 s and was killed", job.Error);
        Assert.Contains("sleeping forever", job.LogTail);
        await AssertTheNextJobSucceedsAsync(Adversary);
    }

    [Fact]
    public async Task An_image_that_runs_as_root_is_refused_before_it_runs()
    {
        await StationsAsync();
        var job = await RunAtAsync(Adversary, f.MisbehavingAsRoot.Reference, "ok");

        Assert.True(job.State == JobStates.Failed, Describe(job));
        Assert.Equal("inspect: the image runs as user 'root', and this station's Station:RootImages setting is 'refuse': a train image must set " +
                     "USER to a numeric non-root uid[:gid] such as 65532:65532 (the station's operator may set Station:RootImages=remap " +
                     "to run such images as 65532:65532 instead)", job.Error);
        Assert.True(job.Timings is null || job.Timings.RunMs == 0); // never started
        await AssertTheNextJobSucceedsAsync(Adversary);
    }

    [Fact]
    public async Task A_station_set_to_remap_runs_a_root_image_as_65532_still_locked_down()
    {
        await StationsAsync();
        var probe = await RunAtAsync(Remapping, f.MisbehavingAsRoot.Reference, "secrets");
        Assert.Equal("run: the train exited with code 10", probe.Error);
        Assert.Contains("uid=65532 gid=65532 NoNewPrivs=1", probe.LogTail);
        Assert.DoesNotContain("ESCAPED", probe.LogTail);

        var ok = await RunAtAsync(Remapping, f.MisbehavingAsRoot.Reference, "ok");
        Assert.True(ok.State == JobStates.Succeeded, Describe(ok));
    }

    /// <summary>A plain job at the same station afterwards: it must still take jobs, run containers and report results.</summary>
    private async Task AssertTheNextJobSucceedsAsync(string station)
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var run = await f.RunToEndAsync(train, [station], Parameters("ok"));
        var job = Assert.Single(run.Jobs);
        Assert.True(job.State == JobStates.Succeeded, Describe(job));
        var pooled = Assert.Single((await f.Alice.GetResultsAsync(run.Id)).Rounds).Pooled!;
        Assert.Equal(Patients, pooled.Statistics.Single(s => s.Name == "patients").Value);
    }

    private async Task<JobInfo> RunAtAsync(string station, string image, string behaviour)
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(image);
        var run = await f.RunToEndAsync(train, [station], Parameters(behaviour));
        var job = Assert.Single(run.Jobs);
        // What the hub recorded, for the security model's table of attacks and outcomes.
        output.WriteLine($"{behaviour} at {station}: {job.State}, exit code {job.ExitCode?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none"}\nerror: {job.Error}\nlog tail:\n{job.LogTail}");
        return job;
    }

    private Dictionary<string, JsonElement> Parameters(string behaviour) => new()
    {
        ["behaviour"] = JsonSerializer.SerializeToElement(behaviour),
        ["hub_port"] = JsonSerializer.SerializeToElement(f.Federation.HubUrl.Port),
    };

    private static string Describe(JobInfo job) => $"{job.State}: {job.Error}\n{job.LogTail}";

    /// <summary>Starts the two stations once for the whole collection.</summary>
    private Task StationsAsync()
    {
        lock (Started)
        {
            var key = f.Federation.HubUrl.ToString();
            if (!Started.TryGetValue(key, out var starting))
            {
                var data = WritePatients();
                // Small-cell suppression off (k = 1), stated: these stations test containment, and the exact count of their
                // four patients is how AssertTheNextJobSucceedsAsync sees that a job after an attack still read every record.
                starting = Task.WhenAll(
                    f.Federation.AddStationAsync(Adversary, data, settings:
                        [$"MaxOutputBytes={OutputCap}", $"MaxOutputFiles={OutputFiles}", $"TmpBytes={16 * 1024 * 1024}", "Disclosure:MinCellCount=1"]),
                    f.Federation.AddStationAsync(Remapping, data, settings: ["RootImages=remap", "Disclosure:MinCellCount=1"]));
                Started[key] = starting;
            }
            return starting;
        }
    }

    private string WritePatients()
    {
        var dir = Path.Combine(f.Root, "adversary-data");
        Directory.CreateDirectory(dir);
        File.WriteAllLines(Path.Combine(dir, "Patient.ndjson"), Enumerable.Range(1, Patients).Select(i =>
            $$"""{"resourceType":"Patient","id":"adv-{{i}}","gender":"female","birthDate":"1970-01-0{{i}}"}"""));
        return dir;
    }
}
