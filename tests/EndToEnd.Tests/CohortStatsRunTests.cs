using System.Net.Http.Json;
using System.Text.Json;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Examples.CohortStats;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>The foundation's promise: pooling what three hospitals return equals computing over their pooled records.</summary>
[Collection(FederationCollection.Name)]
public sealed class CohortStatsRunTests(FederationFixture f)
{
    private const double Relative = 1e-9;

    [Fact]
    public async Task Pooled_statistics_equal_the_statistics_over_the_union_of_the_stations()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.CohortStats.Reference);
        var run = await f.RunToEndAsync(train, f.Hospitals);
        Assert.True(run.State == RunStates.Completed, RunDetails(run));
        Assert.All(run.Jobs, j => Assert.Equal(JobStates.Succeeded, j.State));
        Assert.All(run.Jobs, j => Assert.StartsWith("sha256:", j.ResultDigest));

        var results = await f.Alice.GetResultsAsync(run.Id);
        var pooled = Assert.Single(results.Rounds).Pooled!;
        Assert.Equal(f.Hospitals, pooled.Stations);

        // The same views over the union of the three stations' records, as one pooled store would give them.
        var views = UnionData.EvaluateViews(f.Slices, f.CohortStats.Manifest, Path.Combine(f.Root, "union"));
        var direct = CohortStatistics.Compute(views["patients"], views["labs"], views["type2_diabetes"], new DateOnly(2026, 1, 1));

        // Each station gave the train exactly the three views, and said how many rows of each.
        foreach (var job in run.Jobs)
            Assert.Equal(["patients", "labs", "type2_diabetes"], job.Inputs!.Select(i => i.Name));
        Assert.Equal(views["patients"].Count, run.Jobs.Sum(j => j.Inputs!.Single(i => i.Name == "patients").Rows));
        Assert.Equal(["patient_key", "gender", "birth_date", "deceased_date_time", "deceased"], run.Jobs[0].Inputs![0].Columns);

        // The data set's own figures (README of ../shared/data), so the comparison is not of two empty tables.
        Assert.Equal(526, direct.Statistics["patients"].Value);
        Assert.Equal(31, direct.Statistics["type2_diabetes_patients"].Value);
        Assert.Equal(4116, direct.Statistics["bmi"].N);
        Assert.Equal(1452, direct.Statistics["hba1c"].N);

        // Every hospital withholds cells under the default k = 5: what each should have released, computed over its own slice
        // and suppressed by the station's rule (unit-tested in Station.Tests), pooled as the hub pools.
        var k = HealthTrain.Station.Disclosure.DisclosureOptions.DefaultMinCellCount;
        var released = f.Slices.Parts.Select((part, i) =>
        {
            var own = UnionData.EvaluateViews([part.Folder], f.CohortStats.Manifest, Path.Combine(f.Root, "slice-" + i));
            var exact = CohortStatistics.Compute(own["patients"], own["labs"], own["type2_diabetes"], new DateOnly(2026, 1, 1));
            return (f.Hospitals[i], HealthTrain.Station.Disclosure.CellSuppression.Apply(f.CohortStats.Manifest, exact, k).Result);
        }).ToList();
        var expected = HealthTrain.Hub.Merging.StatisticsPooling.Pool(f.CohortStats.Manifest, released);
        Assert.Equal(expected.Disclosure, pooled.Disclosure);
        Assert.All(pooled.Disclosure!, d => Assert.Equal(k, d.MinCellCount));

        Assert.Equal(direct.Statistics.Keys.Order(), pooled.Statistics.Select(s => s.Name).Order());
        foreach (var p in pooled.Statistics)
        {
            var d = direct.Statistics[p.Name];
            var e = expected.Statistics.Single(s => s.Name == p.Name);
            Assert.Equal(e.Stations, p.Stations);
            Assert.Equal(e.Suppressed?.OrderBy(c => c.Key), p.Suppressed?.OrderBy(c => c.Key));
            var withheld = p.Suppressed ?? [];
            // A cell no station withheld is exactly the union's; a withheld one is the expected lower bound, never above the truth.
            void Cell(string cell, double exact, double actual)
            {
                if (withheld.ContainsKey(cell)) Assert.True(actual <= exact, $"{p.Name}.{cell}: lower bound {actual} above the true {exact}");
                else Assert.True(exact == actual, $"{p.Name}.{cell}: pooled {actual} vs direct {exact}");
            }
            switch (p.Kind)
            {
                case StatisticKinds.Count when d.Categories is not null:
                    Assert.Equal(e.Categories!.OrderBy(c => c.Key), p.Categories!.OrderBy(c => c.Key));
                    foreach (var (category, count) in d.Categories) Cell(SuppressedCells.Category(category), count!.Value, p.Categories![category]);
                    break;
                case StatisticKinds.Count:
                    Assert.Equal(e.Value, p.Value);
                    Cell(SuppressedCells.Value, d.Value!.Value, p.Value!.Value);
                    break;
                case StatisticKinds.Histogram:
                    Assert.Equal(e.Counts, p.Counts);
                    Assert.Equal((e.Underflow, e.Overflow), (p.Underflow, p.Overflow));
                    for (var i = 0; i < p.Counts!.Length; i++) Cell(SuppressedCells.Bin(i), d.Counts![i]!.Value, p.Counts[i]);
                    Cell(SuppressedCells.Underflow, d.Underflow ?? 0, p.Underflow ?? 0);
                    Cell(SuppressedCells.Overflow, d.Overflow ?? 0, p.Overflow ?? 0);
                    break;
                case StatisticKinds.Variance when withheld.ContainsKey(SuppressedCells.Moments):
                    // Pooled over the hospitals that released theirs only.
                    Assert.Equal(e.N, p.N);
                    AssertClose(e.Mean!.Value, p.Mean!.Value, p.Name + ".mean");
                    AssertClose(e.Variance!.Value, p.Variance!.Value, p.Name + ".variance");
                    break;
                case StatisticKinds.Variance:
                    Assert.Equal(d.N, p.N);
                    AssertClose(d.Mean!.Value, p.Mean!.Value, p.Name + ".mean");
                    AssertClose(d.M2!.Value / (d.N!.Value - 1), p.Variance!.Value, p.Name + ".variance");
                    break;
                default:
                    Assert.Fail($"cohort-stats has no {p.Kind} statistic {p.Name}");
                    break;
            }
        }
    }

    [Fact]
    public async Task Every_step_of_a_run_is_in_the_ledger_and_in_its_prov_export()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var run = await f.RunToEndAsync(train, ["hospital-a", "hospital-c"]);
        Assert.Equal(RunStates.Completed, run.State);

        using var http = new HttpClient { BaseAddress = f.Federation.HubUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", f.Federation.OperatorToken);
        var head = await http.GetFromJsonAsync<JsonElement>("/api/ledger/head", ProtocolJson.Api);
        var size = head.GetProperty("treeSize").GetInt64();
        var entries = new List<LedgerEntry>();
        for (long from = 0; from < size; from += 1000)
            entries.AddRange((await http.GetFromJsonAsync<List<LedgerRecord>>($"/api/ledger/entries?from={from}&count=1000", ProtocolJson.Api))!
                .Select(r => LedgerEntry.Parse(r.Leaf)));

        var jobs = run.Jobs.Select(j => $"job/{j.Id}").ToHashSet();
        Assert.Contains(entries, e => e.Kind == LedgerKinds.RunCreated && e.Subject == $"run/{run.Id}" && e.Actor == "alice");
        Assert.Equal(2, entries.Count(e => e.Kind == LedgerKinds.JobDispatched && jobs.Contains(e.Subject)));
        var uploads = entries.Where(e => e.Kind == LedgerKinds.ResultUploaded && jobs.Contains(e.Subject)).ToList();
        Assert.Equal(["hospital-a", "hospital-c"], uploads.Select(e => e.Actor).Order());
        Assert.All(uploads, u => Assert.Equal(run.Jobs.Single(j => $"job/{j.Id}" == u.Subject).ResultDigest, (string?)u.Payload["digest"]));
        var merge = Assert.Single(entries, e => e.Kind == LedgerKinds.MergeCompleted && e.Subject == $"run/{run.Id}/round/1");
        Assert.Equal(2, merge.Payload["results"]!.AsObject().Count);

        // The run's W3C PROV-JSON export names every agent, execution and result, each with its ledger entry.
        using var researcher = new HttpClient { BaseAddress = f.Federation.HubUrl };
        researcher.DefaultRequestHeaders.Authorization = new("Bearer", f.Alice.Connection.Token);
        var prov = System.Text.Json.Nodes.JsonNode.Parse(await researcher.GetStringAsync($"/api/runs/{run.Id}/prov"))!.AsObject();
        var agents = prov["agent"]!.AsObject();
        // The hospitals' statistics rule approved each job, so it acts on the hospital's behalf as an agent of its own.
        Assert.Equal(["ht:hub", "ht:identity/alice", "ht:identity/hospital-a", "ht:identity/hospital-a/policy/local-statistics",
            "ht:identity/hospital-c", "ht:identity/hospital-c/policy/local-statistics"], agents.Select(a => a.Key).Order(StringComparer.Ordinal));
        foreach (var job in run.Jobs)
        {
            var execution = prov["activity"]![$"ht:job/{job.Id}"]!;
            Assert.Equal(entries.Single(e => e.Kind == LedgerKinds.JobDispatched && e.Subject == $"job/{job.Id}").Index, (long)execution["ht:ledgerEntry"]!);
            var result = prov["entity"]![$"ht:result/job/{job.Id}"]!;
            Assert.Equal(job.ResultDigest, (string?)result["ht:digest"]);
            Assert.Equal(uploads.Single(u => u.Subject == $"job/{job.Id}").Index, (long)result["ht:ledgerEntry"]!);
            Assert.Contains(prov["wasAssociatedWith"]!.AsObject(), a =>
                (string?)a.Value!["prov:activity"] == $"ht:job/{job.Id}" && (string?)a.Value["prov:agent"] == $"ht:identity/{job.Station}");
        }
        Assert.Equal(merge.Index, (long)prov["activity"]![$"ht:merge/run/{run.Id}/round/1"]!["ht:ledgerEntry"]!);
        Assert.Equal(2, prov["wasDerivedFrom"]!.AsObject().Count);
        // Another researcher gets nothing.
        using var bob = await f.Federation.AddResearcherAsync("prov-" + Guid.NewGuid().ToString("N")[..6]);
        using var other = new HttpClient { BaseAddress = f.Federation.HubUrl };
        other.DefaultRequestHeaders.Authorization = new("Bearer", bob.Connection.Token);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await other.GetAsync($"/api/runs/{run.Id}/prov")).StatusCode);
    }

    private static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= Relative * Math.Abs(expected), $"{what}: pooled {actual:R} vs direct {expected:R}");

    internal static string RunDetails(RunInfo run) => HealthTrain.Cli.Commands.RunCommands.Describe(run);
}
