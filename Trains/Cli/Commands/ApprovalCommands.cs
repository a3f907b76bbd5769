using System.Net.Http.Json;
using System.Text.Json;
using HealthTrain.Cli.Output;
using HealthTrain.Trains.Protocol;
using Spectre.Console;

namespace HealthTrain.Cli.Commands;

/// <summary>
/// <c>healthtrain station approvals [list|show|approve|reject]</c>: a station operator's approval queue, through the
/// station's own API (<c>--station URL --token T</c>, or HEALTHTRAIN_STATION / HEALTHTRAIN_STATION_TOKEN).
/// </summary>
public static class ApprovalCommands
{
    public static async Task<int> RunAsync(CliArgs args, TextWriter output, IAnsiConsole? terminal = null)
    {
        var verb = args.Positional.Count > 1 ? args.Positional[1] : "list";
        var digest = verb is "show" or "approve" or "reject" ? args.Required(2, "the image digest (sha256:…, see station approvals list)") : null;
        var state = verb == "list" ? args.Option("state") : null;
        var reason = args.Option("reason");
        using var http = StationConnection.Connect(args);
        args.RejectUnknown();
        if (verb == "reject" && string.IsNullOrWhiteSpace(reason)) throw new UsageException("--reason TEXT is required to reject: the researcher and the ledger read it");

        switch (verb)
        {
            case "list":
            {
                var list = await ReadAsync<List<ApprovalInfo>>(await http.GetAsync("/api/approvals" + (state is null ? "" : "?state=" + Uri.EscapeDataString(state))));
                ApprovalList(list, state).Write(output, terminal);
                return 0;
            }
            case "show":
                Print(await ReadAsync<ApprovalInfo>(await http.GetAsync($"/api/approvals/{digest}")), output, terminal);
                return 0;
            case "approve" or "reject":
            {
                var decided = await ReadAsync<ApprovalInfo>(await http.PostAsJsonAsync($"/api/approvals/{digest}/{verb}", new ApprovalDecision(reason), ProtocolJson.Api));
                output.WriteLine($"{decided.State}: {decided.Repository}:{decided.Version} ({decided.Digest}) by {decided.DecidedBy}"
                    + (decided.WaitingJobs.Count > 0 ? $"; {decided.WaitingJobs.Count} waiting job(s) go on now" : ""));
                return 0;
            }
            default:
                throw new UsageException($"unknown command 'station approvals {verb}'; try: station approvals list|show|approve|reject");
        }
    }

    /// <summary>The approval queue as <c>station approvals list</c> shows it.</summary>
    public static TextTable ApprovalList(IEnumerable<ApprovalInfo> approvals, string? state)
    {
        var table = new TextTable(
        [
            new TextColumn("state") { Align = -9, Style = StateStyles.For },
            new TextColumn("digest") { Before = " " },
            new TextColumn("train") { Before = "  " },
            new TextColumn("kind") { Before = " (", After = ")" },
            new TextColumn("author") { Before = " by " },
            new TextColumn("decision") { Before = ", " },
            new TextColumn("waiting jobs") { Before = ", ", After = " job(s) waiting", OmitEmpty = true },
        ], emptyText: state is null ? "nothing inspected yet" : $"no {state} images");
        foreach (var a in approvals)
            table.Add(a.State, a.Digest, $"{a.Repository}:{a.Version}", a.Kind, a.Author,
                a.DecidedBy is null ? $"waiting since {a.RequestedAt:yyyy-MM-dd HH:mm}" : $"{a.DecidedBy} {a.DecidedAt:yyyy-MM-dd HH:mm}",
                a.WaitingJobs.Count > 0 ? a.WaitingJobs.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) : "");
        return table;
    }

    /// <summary>The keys whose signatures the station verified, as <c>station approvals show</c> lists them.</summary>
    public static TextTable Signers(IEnumerable<ImageSigner> signers)
    {
        var table = new TextTable(
        [
            new TextColumn("signed by") { Before = "  signed:   ", Align = -7 },
            new TextColumn("name") { Before = " ", Align = -16 },
            new TextColumn("key") { Before = " key " },
        ]);
        foreach (var s in signers) table.Add(s.Role, s.Name, s.KeyId);
        return table;
    }

    /// <summary>The image's layers with their compressed sizes, as <c>station approvals show</c> lists them.</summary>
    public static TextTable Layers(IEnumerable<ImageLayerInfo> layers)
    {
        var table = new TextTable(
        [
            new TextColumn("layer") { Before = "            ", After = "…" },
            new TextColumn("KiB") { Before = "  ", Align = 10, After = " KiB" },
        ]);
        foreach (var l in layers) table.Add(l.Digest[..19], (l.Size / 1024.0).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture));
        return table;
    }

    /// <summary>The inspection report, as an operator reads it before deciding.</summary>
    private static void Print(ApprovalInfo a, TextWriter output, IAnsiConsole? terminal)
    {
        output.WriteLine($"{a.Repository}:{a.Version} ({a.Kind}) by {a.Author}: {a.State}" + (a.DecidedBy is null ? "" : $" by {a.DecidedBy} at {a.DecidedAt:yyyy-MM-dd HH:mm}: {a.Reason}"));
        if (a.Report is not { } r) return;
        output.WriteLine($"  digest:   {r.Digest}");
        Signers(r.Signers).Write(output, terminal);
        output.WriteLine($"  layers:   {r.Layers.Count}, {r.TotalLayerBytes / 1048576.0:0.#} MiB compressed");
        Layers(r.Layers).Write(output, terminal);
        output.WriteLine($"  user:     {r.Config.User}   entrypoint: {string.Join(' ', r.Config.Entrypoint)} {string.Join(' ', r.Config.Cmd)}");
        output.WriteLine($"  env:      {string.Join(", ", r.Config.Env)}");
        output.WriteLine($"  ports:    {(r.Config.ExposedPorts.Count == 0 ? "none" : string.Join(", ", r.Config.ExposedPorts))}   volumes: {(r.Config.Volumes.Count == 0 ? "none" : string.Join(", ", r.Config.Volumes))}");
        var m = r.Manifest;
        output.WriteLine($"  reads:    {string.Join(", ", m.Inputs.Select(i => i.Kind == InputKinds.View ? $"view {i.Name}" : $"{i.Kind} {i.ResourceType}"))}");
        output.WriteLine($"  writes:   {string.Join(", ", m.Outputs.Statistics.Select(s => $"{s.Name} ({s.Kind})").Concat(m.Outputs.Tensors.Select(t => $"{t.Name} {t.Dtype}[{string.Join(",", t.Shape)}]")))}");
        output.WriteLine($"  needs:    {m.Resources.Cpus} CPU, {m.Resources.MemoryMb} MB, {m.Resources.Gpus} GPU, {m.Resources.TimeoutSeconds} s");
        if (r.Diff is { } d)
        {
            output.WriteLine($"  changes since approved {d.PreviousVersion} ({d.PreviousDigest[..19]}…): {d.Added.Count} added, {d.Changed.Count} changed, {d.Removed.Count} removed");
            foreach (var f in d.Added.Take(20)) output.WriteLine($"    + /{f}");
            foreach (var f in d.Changed.Take(20)) output.WriteLine($"    ~ /{f}");
            foreach (var f in d.Removed.Take(20)) output.WriteLine($"    - /{f}");
        }
        else output.WriteLine("  changes:  no earlier version of this train was approved here");
        foreach (var p in r.Problems) output.WriteLine($"  PROBLEM:  {p}");
        if (a.WaitingJobs.Count > 0) output.WriteLine($"  waiting jobs: {string.Join(", ", a.WaitingJobs)}");
    }

    private static Task<T> ReadAsync<T>(HttpResponseMessage response) => StationConnection.ReadAsync<T>(response);
}
