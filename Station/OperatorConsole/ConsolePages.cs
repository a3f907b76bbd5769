using System.Globalization;
using HealthTrain.Station.Approval;
using HealthTrain.Station.Jobs;
using HealthTrain.Station.Release;
using HealthTrain.Station.Views;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.OperatorConsole;

/// <summary>The console's pages as HTML: plain forms and tables, every value encoded (<see cref="Html"/>), no script.</summary>
public static class ConsolePages
{
    private const string Style = """
        body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2327;background:#f6f7f7}
        header{background:#1d3b53;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
        header a{color:#fff;text-decoration:none}header a:hover{text-decoration:underline}header .station{font-weight:600;margin-right:1em}
        .signout{margin-left:auto}main{padding:1em 1.4em;max-width:1200px}
        table{border-collapse:collapse;margin:.4em 0 1.2em;background:#fff}th,td{border:1px solid #d0d5d9;padding:.3em .6em;text-align:left;vertical-align:top}
        th{background:#eef1f3}code{font-size:12px;word-break:break-all}.state{font-weight:600}.pending,.waiting,.awaiting-approval,.awaiting-release{color:#9a6700}
        .approved,.released,.succeeded{color:#1a7f37}.rejected,.withheld,.failed{color:#cf222e}.problem{color:#cf222e}
        form.decide{display:inline-block;margin:.3em 1em .3em 0;padding:.6em;background:#fff;border:1px solid #d0d5d9}
        input[type=text],input[type=password]{width:22em}button{cursor:pointer}
        """;

    public static Html Layout(string station, string title, bool signedIn, Html signOut, Html body)
    {
        var nav = signedIn
            ? Html.Of($"""<a href="/console/approvals">Approvals</a><a href="/console/jobs">Jobs</a><a href="/console/releases">Releases</a><a href="/console/catalog">Data catalog</a>{signOut}""")
            : Html.Empty;
        return Html.Of($"""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>{title} · {station} · HealthTrain station</title><style>{new Html(Style)}</style></head>
            <body><header><span class="station">HealthTrain station {station}</span>{nav}</header>
            <main><h1>{title}</h1>
            {body}
            </main></body></html>
            """);
    }

    public static Html Message(string text) => Html.Of($"<p>{text}</p>");

    public static Html SignIn(string antiforgery, string? problem) => Html.Of($"""
        {(problem is null ? Html.Empty : Html.Of($"<p class=\"problem\" role=\"alert\">{problem}</p>"))}
        <p>Sign in with your station operator token (Station:Operators, or the generated <code>operator.token</code> in the station's data folder).</p>
        <form method="post" action="/console/sign-in">{Csrf(antiforgery)}
        <label>Operator token <input type="password" name="token" autocomplete="off" required autofocus></label>
        <button type="submit">Sign in</button></form>
        """);

    public static Html Approvals(IReadOnlyList<ApprovalInfo> approvals)
    {
        var pending = approvals.Where(a => a.State == ApprovalStates.Pending).ToList();
        var decided = approvals.Where(a => a.State != ApprovalStates.Pending).ToList();
        var pendingRows = Html.Join(pending.Select(a => Html.Of($"""
            <tr><td><a href="{Link(a)}">{a.Train} {a.Version}</a></td><td>{a.Kind}</td><td>{a.Author}</td><td><code>{a.Digest}</code></td>
            <td>{ConsoleEndpoints.When(a.RequestedAt)}</td><td>{a.WaitingJobs.Count}</td></tr>
            """)));
        var decidedRows = Html.Join(decided.Select(a => Html.Of($"""
            <tr><td><a href="{Link(a)}">{a.Train} {a.Version}</a></td><td class="state {a.State}">{a.State}</td><td>{a.DecidedBy}</td>
            <td>{ConsoleEndpoints.When(a.DecidedAt)}</td><td>{a.Reason}</td><td><code>{a.Digest}</code></td></tr>
            """)));
        return Html.Of($"""
            <h2>Waiting for a decision ({pending.Count})</h2>
            {(pending.Count == 0 ? Message("No train waits for approval.") : Html.Of($"""
                <table id="pending"><tr><th>train</th><th>kind</th><th>author</th><th>digest</th><th>inspected</th><th>jobs waiting</th></tr>{pendingRows}</table>
                """))}
            <h2>Decided</h2>
            {(decided.Count == 0 ? Message("No decision yet.") : Html.Of($"""
                <table id="decided"><tr><th>train</th><th>state</th><th>by</th><th>at</th><th>reason</th><th>digest</th></tr>{decidedRows}</table>
                """))}
            """);
    }

    public static Html Approval(ApprovalInfo approval, IReadOnlyList<(string Decision, string DecidedBy, DateTimeOffset DecidedAt, string? Reason)> history,
        ApprovalPolicy policy, string antiforgery)
    {
        var report = approval.Report!;
        var manifest = report.Manifest;
        var r = manifest.Resources;
        var limits = policy.LimitProblems(manifest);
        var rule = policy.Match(report);
        var verdict = report.Problems.Count > 0 ? Html.Of($"<p class=\"problem\">The station refuses this image: {string.Join("; ", report.Problems)}</p>")
            : limits.Count > 0 ? Html.Of($"<p class=\"problem\">Over this station's hard limits, refused whatever the decision: {string.Join("; ", limits)}</p>")
            : rule is not null ? Html.Of($"<p>Policy: matches the auto-approval rule <b>{rule.Name}</b>.</p>")
            : Html.Of($"<p>Policy: within the station's limits; no auto-approval rule matches, so an operator decides.</p>");
        var signers = Html.Join(report.Signers.Select(s => Html.Of($"<tr><td>{s.Role}</td><td>{s.Name}</td><td><code>{s.KeyId}</code></td></tr>")));
        var inputs = Html.Join(manifest.Inputs.Select(Input));
        var statistics = Html.Join(manifest.Outputs.Statistics.Select(s => Html.Of($"""
            <tr><td>{s.Name}</td><td>{s.Kind}</td><td>{string.Join(", ", s.Categories ?? [])}{(s.Bins is null ? "" : "bins " + string.Join(", ", s.Bins.Select(b => b.ToString(CultureInfo.InvariantCulture))))}</td><td>{s.Description}</td></tr>
            """)));
        var tensors = Html.Join(manifest.Outputs.Tensors.Select(t => Html.Of($"<tr><td>{t.Name}</td><td>{t.Dtype}</td><td>[{string.Join(", ", t.Shape)}]</td></tr>")));
        var c = report.Config;
        var diff = report.Diff is { } d
            ? Html.Of($"<p>Changes since approved version {d.PreviousVersion} (<code>{d.PreviousDigest}</code>): {d.Added.Count} added, {d.Changed.Count} changed, {d.Removed.Count} removed.</p>{Files("added", d.Added)}{Files("changed", d.Changed)}{Files("removed", d.Removed)}")
            : Message("No earlier version of this train was approved here.");
        var events = Html.Join(history.Select(h => Html.Of($"<tr><td class=\"state {h.Decision}\">{h.Decision}</td><td>{h.DecidedBy}</td><td>{ConsoleEndpoints.When(h.DecidedAt)}</td><td>{h.Reason}</td></tr>")));
        var digestPath = Uri.EscapeDataString(approval.Digest);
        return Html.Of($"""
            <p><span class="state {approval.State}" id="approval-state">{approval.State}</span>
            {(approval.DecidedBy is null ? Html.Empty : Html.Of($" by {approval.DecidedBy} at {ConsoleEndpoints.When(approval.DecidedAt)}{(approval.Reason is null ? "" : ": " + approval.Reason)}"))}
            · {approval.WaitingJobs.Count} job(s) waiting</p>
            <p><b>{report.Repository}</b> {report.Kind} train by {report.Author}, <code>{report.Digest}</code>, inspected {ConsoleEndpoints.When(report.InspectedAt)}</p>
            <section id="verdict">{verdict}</section>
            <form class="decide" method="post" action="/console/approvals/{digestPath}/approve">{Csrf(antiforgery)}
              <label>Reason (optional) <input type="text" name="reason" maxlength="500"></label> <button type="submit" id="approve">Approve</button></form>
            <form class="decide" method="post" action="/console/approvals/{digestPath}/reject">{Csrf(antiforgery)}
              <label>Reason <input type="text" name="reason" maxlength="500" required></label> <button type="submit" id="reject">Reject</button></form>
            <h2>Signatures</h2>
            <table id="signatures"><tr><th>role</th><th>name</th><th>key</th></tr>{signers}</table>
            <h2>Manifest</h2>
            <p>{manifest.Description}</p>
            <h3>Reads</h3>
            <table id="inputs"><tr><th>kind</th><th>name</th><th>resource</th><th>columns</th></tr>{inputs}</table>
            <h3>Writes</h3>
            {(manifest.Outputs.Statistics.Count == 0 ? Html.Empty : Html.Of($"<table id=\"statistics\"><tr><th>statistic</th><th>kind</th><th>strata</th><th>description</th></tr>{statistics}</table>"))}
            {(manifest.Outputs.Tensors.Count == 0 ? Html.Empty : Html.Of($"<table id=\"tensors\"><tr><th>tensor</th><th>dtype</th><th>shape</th></tr>{tensors}</table>"))}
            <h3>Resources</h3>
            <p id="resources">{r.Cpus} CPU, {r.MemoryMb} MB, {r.Gpus} GPU, {r.TimeoutSeconds} s</p>
            <h2>Image</h2>
            <table id="image">
            <tr><th>user</th><td>{c.User}</td></tr><tr><th>entrypoint</th><td><code>{string.Join(" ", c.Entrypoint)}</code></td></tr>
            <tr><th>cmd</th><td><code>{string.Join(" ", c.Cmd)}</code></td></tr><tr><th>working dir</th><td>{c.WorkingDir}</td></tr>
            <tr><th>environment</th><td>{Html.Join(c.Env.Select(e => Html.Of($"<code>{e}</code><br>")))}</td></tr>
            <tr><th>ports</th><td>{string.Join(", ", c.ExposedPorts)}</td></tr><tr><th>volumes</th><td>{string.Join(", ", c.Volumes)}</td></tr>
            <tr><th>labels</th><td>{Html.Join(c.Labels.Where(l => l.Key != TrainManifest.LabelKey).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => Html.Of($"<code>{l.Key}={l.Value}</code><br>")))}</td></tr>
            <tr><th>layers</th><td>{report.Layers.Count} layers, {Bytes(report.TotalLayerBytes)}</td></tr>
            </table>
            <h2>Changes</h2>
            {diff}
            <h2>Decisions</h2>
            {(history.Count == 0 ? Message("None yet.") : Html.Of($"<table id=\"history\"><tr><th>decision</th><th>by</th><th>at</th><th>reason</th></tr>{events}</table>"))}
            """);
    }

    private static Html Input(TrainInput input)
    {
        if (input.Kind != InputKinds.View || input.View is null)
            return Html.Of($"<tr><td>{input.Kind}</td><td>{input.Name}</td><td>{input.ResourceType}</td><td>{(input.Kind == InputKinds.FhirResources ? "whole resources" : "")}</td></tr>");
        try
        {
            var view = CompiledView.Compile(input.View.Value);
            return Html.Of($"<tr><td>{input.Kind}</td><td>{input.Name}</td><td>{view.ResourceType}</td><td>{string.Join(", ", view.Columns.Select(c => c.Name))}</td></tr>");
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or ViewDefinitionException or ArgumentException or FormatException)
        {
            return Html.Of($"<tr><td>{input.Kind}</td><td>{input.Name}</td><td></td><td class=\"problem\">the view does not compile: {e.Message}</td></tr>");
        }
    }

    private static Html Files(string what, IReadOnlyList<string> files) =>
        files.Count == 0 ? Html.Empty : Html.Of($"<details><summary>{files.Count} {what}</summary><code>{string.Join("\n", files.Take(500))}</code></details>");

    public static Html Jobs(IReadOnlyList<StationJob> jobs)
    {
        var rows = Html.Join(jobs.Select(j => Html.Of($"""
            <tr><td>{j.JobId}</td><td class="state {j.State}">{j.State}</td><td><a href="/console/approvals/{Uri.EscapeDataString(j.Digest)}">{j.Train} {j.Version}</a></td><td>{j.RunId} / {j.Round}</td>
            <td>{ConsoleEndpoints.When(j.ReceivedAt)}</td><td>{ConsoleEndpoints.When(j.StartedAt)}</td><td>{ConsoleEndpoints.When(j.FinishedAt)}</td>
            <td>{(j.Timings is { } t ? $"{t.TotalMs} ms (train {t.RunMs} ms)" : "")}</td><td>{(j.Stage is null ? "" : j.Stage + ": ")}{j.Reason}</td></tr>
            """)));
        return jobs.Count == 0 ? Message("No job came to this station yet.") : Html.Of($"""
            <table id="jobs"><tr><th>job</th><th>state</th><th>train</th><th>run / round</th><th>received</th><th>started</th><th>finished</th><th>time</th><th>outcome</th></tr>{rows}</table>
            """);
    }

    public static Html Releases(IReadOnlyList<HeldResult> held, ReleaseOptions options)
    {
        var policy = options.Manual.Count == 0
            ? Message("Results go to the hub as soon as they are checked (set Station:Release:Manual to hold a kind here).")
            : Message($"Results of {string.Join(" and ", options.Manual)} trains wait here for release, at most {options.WaitHours} h.");
        var rows = Html.Join(held.Select(h => Html.Of($"""
            <tr><td><a href="/console/releases/{h.JobId}">job {h.JobId}</a></td><td>{h.Job.TrainName} {h.Job.TrainVersion}</td><td>{h.Kind}</td>
            <td>{h.Job.RunId} / {h.Job.Round}</td><td class="state {h.State}">{h.State}</td><td>{ConsoleEndpoints.When(h.HeldAt)}</td><td>{ConsoleEndpoints.When(h.WaitUntil)}</td></tr>
            """)));
        return Html.Of($"""
            {policy}
            {(held.Count == 0 ? Message("No result waits for release.") : Html.Of($"<table id=\"held\"><tr><th>job</th><th>train</th><th>kind</th><th>run / round</th><th>state</th><th>held since</th><th>waits until</th></tr>{rows}</table>"))}
            """);
    }

    public static Html Release(HeldResult held, ResultContents contents, string antiforgery)
    {
        var cells = Html.Join(contents.Statistics.Select(s => Html.Of($"<tr><td>{s.Key}</td><td>{s.Value.Kind}</td><td>{Cells(s.Value)}</td></tr>")));
        var tensors = Html.Join(contents.Tensors.Select(t => Html.Of($"<tr><td>{t.Name}</td><td>{t.Dtype}</td><td>[{string.Join(", ", t.Shape)}]</td><td>{Bytes(t.Bytes)}</td><td>{t.Norm:G6}</td></tr>")));
        var inputs = Html.Join((held.Result.Inputs ?? []).Select(i => Html.Of($"<tr><td>{i.Name}</td><td>{i.Kind}</td><td>{i.ResourceType}</td><td>{string.Join(", ", i.Columns)}</td><td>{i.Rows}</td></tr>")));
        var update = held.Result.Update;
        var decision = held.State == ReleaseStates.Waiting
            ? Html.Of($"""
                <form class="decide" method="post" action="/console/releases/{held.JobId}/release">{Csrf(antiforgery)}
                  <label>Note (optional) <input type="text" name="reason" maxlength="500"></label> <button type="submit" id="release">Release to the hub</button></form>
                <form class="decide" method="post" action="/console/releases/{held.JobId}/withhold">{Csrf(antiforgery)}
                  <label>Reason <input type="text" name="reason" maxlength="500" required></label> <button type="submit" id="withhold">Withhold</button></form>
                """)
            : Html.Of($"<p>{held.State} by {held.DecidedBy} at {ConsoleEndpoints.When(held.DecidedAt)}{(held.Reason is null ? "" : ": " + held.Reason)}; the station acts on it on its next turn.</p>");
        return Html.Of($"""
            <p><span class="state {held.State}" id="release-state">{held.State}</span> · {held.Job.TrainName} {held.Job.TrainVersion} ({held.Kind}), run {held.Job.RunId} round {held.Job.Round},
            image <code>{held.Job.ImageDigest}</code>; held since {ConsoleEndpoints.When(held.HeldAt)}, fails unless released by {ConsoleEndpoints.When(held.WaitUntil)}</p>
            {decision}
            {(contents.Problem is null ? Html.Empty : Html.Of($"<p class=\"problem\">{contents.Problem}</p>"))}
            <p id="digest">{(held.UpdateFile is null ? "Result" : "Update")}: {Bytes(contents.Bytes)}, digest <code>{contents.Digest}</code></p>
            {(update is null ? Html.Empty : Html.Of($"<p>Trained on {update.Samples} samples; metrics: {string.Join(", ", update.Metrics.Select(m => $"{m.Key} = {m.Value.ToString("G6", CultureInfo.InvariantCulture)}"))}</p>"))}
            {(contents.Tensors.Count == 0 ? Html.Empty : Html.Of($"<h2>Tensors</h2><table id=\"tensors\"><tr><th>tensor</th><th>dtype</th><th>shape</th><th>size</th><th>L2 norm</th></tr>{tensors}</table>"))}
            {(contents.Statistics.Count == 0 ? Html.Empty : Html.Of($"<h2>Statistics</h2><table id=\"cells\"><tr><th>statistic</th><th>kind</th><th>cells</th></tr>{cells}</table>"))}
            <h2>What the train was given</h2>
            {(inputs.Value.Length == 0 ? Message("No input summary.") : Html.Of($"<table id=\"given\"><tr><th>input</th><th>kind</th><th>resource</th><th>columns</th><th>rows</th></tr>{inputs}</table>"))}
            """);
    }

    /// <summary>A statistic's cells, one per line: exactly what would leave the station.</summary>
    private static Html Cells(StatisticValue v)
    {
        var lines = new List<string>();
        string N(double x) => x.ToString("G10", CultureInfo.InvariantCulture);
        if (v.Value is { } value) lines.Add($"value = {N(value)}");
        if (v.Categories is { } categories)
            lines.AddRange(categories.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} = {(c.Value is { } x ? N(x) : "suppressed")}"));
        if (v.N is { } n) lines.Add($"n = {n}");
        if (v.Mean is { } mean) lines.Add($"mean = {N(mean)}");
        if (v.M2 is { } m2) lines.Add($"m2 = {N(m2)}");
        if (v.Counts is { } counts) lines.Add($"counts = [{string.Join(", ", counts.Select(c => c is { } x ? x.ToString(CultureInfo.InvariantCulture) : "suppressed"))}]");
        if (v.Suppressed is { Count: > 0 } suppressed) lines.Add($"withheld here (small cells): {string.Join(", ", suppressed)}");
        if (v.Underflow is { } under) lines.Add($"underflow = {under}");
        if (v.Overflow is { } over) lines.Add($"overflow = {over}");
        return Html.Join(lines.Select(l => Html.Of($"{l}<br>")));
    }

    public static Html Catalog(DataCatalog catalog, StationStatus status)
    {
        var state = Html.Of($"<p id=\"status\">Station: {status.State}; {status.JobsSucceeded} job(s) succeeded, {status.JobsFailed} failed since start{(status.LastError is null ? "" : "; last error: " + status.LastError)}.</p>");
        var resources = Html.Join(catalog.Resources.Select(r => Html.Of($"<tr><td>{r.Key}</td><td>{r.Value:N0}</td></tr>")));
        var load = catalog.LastLoad is { } l
            ? Html.Of($"<p id=\"load\">Last folder load: {l.FilesLoaded} files loaded, {l.FilesSkippedUnchanged} unchanged, {l.RejectedFiles.Count} rejected; {l.ResourcesLoaded:N0} resources, {l.RejectedResources.Count} rejected, {Bytes(l.BytesLoaded)} in {l.Elapsed.TotalSeconds:F1} s.</p>{Html.Join(l.RejectedFiles.Take(20).Select(f => Html.Of($"<p class=\"problem\">{f.Path}: {f.Reason}</p>")))}")
            : Message("No FHIR folder was loaded since the station started.");
        var runs = Html.Join(catalog.Ingestions.Select(r => Html.Of($"""
            <tr><td>{r.RunId}</td><td>{r.Format}</td><td><code>{r.InputPath}</code></td><td class="state">{r.Status}</td><td>{ConsoleEndpoints.When(r.StartedAt)}</td><td>{ConsoleEndpoints.When(r.FinishedAt)}</td>
            <td>{string.Join(", ", r.IngestedByType.OrderBy(k => k.Key, StringComparer.Ordinal).Select(k => $"{k.Key} {k.Value.ToString("N0", CultureInfo.InvariantCulture)}"))}</td><td>{r.Quarantined}</td><td>{r.Error}</td></tr>
            """)));
        var views = Html.Join(catalog.Views.Select(v => Html.Of($"""
            <tr><td>{v.Name}</td><td>{v.Resource}</td><td>{(v.Problem is null ? Html.Of($"{string.Join(", ", v.Columns)}") : Html.Of($"<span class=\"problem\">{v.Problem}</span>"))}</td><td>{v.Source}</td></tr>
            """)));
        return Html.Of($"""
            {state}
            <h2>Resources</h2>
            {(catalog.Resources.Count == 0 ? Message("The store holds no resources.") : Html.Of($"<table id=\"resources\"><tr><th>type</th><th>count</th></tr>{resources}</table>"))}
            {load}
            <h2>Ingestion runs</h2>
            {(catalog.Ingestions.Count == 0 ? Message("Nothing was ingested with healthtrain station ingest.") : Html.Of($"<table id=\"ingestions\"><tr><th>run</th><th>format</th><th>input</th><th>status</th><th>started</th><th>finished</th><th>ingested</th><th>quarantined</th><th>error</th></tr>{runs}</table>"))}
            <h2>Views</h2>
            {(catalog.Views.Count == 0 ? Message("No view is known here.") : Html.Of($"<table id=\"views\"><tr><th>view</th><th>resource</th><th>columns</th><th>from</th></tr>{views}</table>"))}
            """);
    }

    private static Html Csrf(string token) => Html.Of($"<input type=\"hidden\" name=\"{ConsoleEndpoints.AntiforgeryField}\" value=\"{token}\">");

    private static string Link(ApprovalInfo a) => "/console/approvals/" + Uri.EscapeDataString(a.Digest);

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => (bytes / (1024.0 * 1024)).ToString("F1", CultureInfo.InvariantCulture) + " MiB",
    };
}
