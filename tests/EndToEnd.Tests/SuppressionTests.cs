using System.Net.Http.Json;
using System.Text.Json;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Examples.CohortStats;
using HealthTrain.Station.Disclosure;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// Small-cell suppression end to end: the tiny clinic (three patients, default k = 5) withholds its small cells, records
/// them, the hub's ledger names k and the count, and the pooled table shows lower bounds rather than exact totals.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed class SuppressionTests(FederationFixture f)
{
    [Fact]
    public async Task A_small_station_withholds_its_small_cells_and_the_pooled_table_marks_them()
    {
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.CohortStats.Reference);
        var run = await f.RunToEndAsync(train, ["hospital-a", f.TinyClinic]);
        Assert.True(run.State == RunStates.Completed, CohortStatsRunTests.RunDetails(run));
        Assert.All(run.Jobs, j => Assert.Equal(JobStates.Succeeded, j.State));
        var tinyJob = run.Jobs.Single(j => j.Station == f.TinyClinic);

        // The tiny clinic's three patients (FederationFixture.WriteTinyClinic): female, male, female, aged 74, 73 and 72 at
        // the reference date, no observations, no conditions. Under k = 5: the patient count (3), both non-zero genders (2
        // and 1) and the [70, 80) bin (3) are withheld; zero cells and the empty moments stay. The bin is the only non-zero
        // cell of its histogram, so there is no second cell to withhold with it.
        var tinyCells = new[]
        {
            ("patients", SuppressedCells.Value, SuppressionReasons.Primary),
            ("patients_by_gender", SuppressedCells.Category("female"), SuppressionReasons.Primary),
            ("patients_by_gender", SuppressedCells.Category("male"), SuppressionReasons.Primary),
            ("age_years", SuppressedCells.Bin(7), SuppressionReasons.Primary),
        };

        // The station's own record, in its database.
        var station = f.Federation.Stations.Single(s => s.Name == f.TinyClinic);
        var record = new StationDisclosure(new HealthTrain.Station.StationOptions(), new StationDatabase(Path.Combine(station.DataDir, "station.db")),
            NullLogger<StationDisclosure>.Instance).RecordOf(tinyJob.Id);
        Assert.NotNull(record);
        Assert.Equal(DisclosureOptions.DefaultMinCellCount, record.Value.MinCellCount);
        Assert.Equal(tinyCells, record.Value.Cells.Select(c => (c.Statistic, c.Cell, c.Reason)));

        // The hub's ledger: the tiny clinic's result entry names its k and how many cells it withheld.
        using var http = new HttpClient { BaseAddress = f.Federation.HubUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", f.Federation.OperatorToken);
        var head = await http.GetFromJsonAsync<JsonElement>("/api/ledger/head", ProtocolJson.Api);
        var entries = new List<LedgerEntry>();
        for (long from = 0; from < head.GetProperty("treeSize").GetInt64(); from += 1000)
            entries.AddRange((await http.GetFromJsonAsync<List<LedgerRecord>>($"/api/ledger/entries?from={from}&count=1000", ProtocolJson.Api))!
                .Select(r => LedgerEntry.Parse(r.Leaf)));
        var upload = Assert.Single(entries, e => e.Kind == LedgerKinds.ResultUploaded && e.Subject == $"job/{tinyJob.Id}");
        Assert.Equal(f.TinyClinic, upload.Actor);
        Assert.Equal(5, upload.Payload["suppression"]!["minCellCount"]!.GetValue<int>());
        Assert.Equal(tinyCells.Length, upload.Payload["suppression"]!["suppressedCells"]!.GetValue<int>());

        // The pooled round: lower bounds where the tiny clinic withheld, exact elsewhere, as computed from hospital-a's slice.
        var pooled = Assert.Single((await f.Alice.GetResultsAsync(run.Id)).Rounds).Pooled!;
        var views = UnionData.EvaluateViews([f.Slices.Parts[0].Folder], f.CohortStats.Manifest, Path.Combine(f.Root, "suppression-hospital-a"));
        var hospitalA = CellSuppression.Apply(f.CohortStats.Manifest,
            CohortStatistics.Compute(views["patients"], views["labs"], views["type2_diabetes"], new DateOnly(2026, 1, 1)), 5).Result;
        var tinyDisclosure = Assert.Single(pooled.Disclosure!, d => d.Station == f.TinyClinic);
        Assert.Equal(new StationSuppression(f.TinyClinic, 5, tinyCells.Length), tinyDisclosure);
        Assert.Equal(new StationSuppression("hospital-a", 5, hospitalA.Disclosure!.SuppressedCells), pooled.Disclosure!.Single(d => d.Station == "hospital-a"));

        var patients = pooled.Statistics.Single(s => s.Name == "patients");
        Assert.Equal(f.Slices.Parts[0].PatientCount, hospitalA.Statistics["patients"].Value);
        Assert.Equal(f.Slices.Parts[0].PatientCount + 1, patients.Value); // at least one patient behind the withheld count
        Assert.Equal(new Dictionary<string, int> { [SuppressedCells.Value] = 1 }, patients.Suppressed);
        var genders = pooled.Statistics.Single(s => s.Name == "patients_by_gender");
        Assert.Equal(1, genders.Suppressed![SuppressedCells.Category("female")]);
        Assert.Equal(1, genders.Suppressed[SuppressedCells.Category("male")]);
        var ages = pooled.Statistics.Single(s => s.Name == "age_years");
        Assert.True(ages.Suppressed![SuppressedCells.Bin(7)] >= 1);
        // Every cell, bound and station count as the hub must pool hospital-a's released result with the tiny clinic's.
        var tinyViews = UnionData.EvaluateViews([Path.Combine(f.Root, "tiny-clinic-data")], f.CohortStats.Manifest, Path.Combine(f.Root, "suppression-tiny"));
        var tiny = CellSuppression.Apply(f.CohortStats.Manifest,
            CohortStatistics.Compute(tinyViews["patients"], tinyViews["labs"], tinyViews["type2_diabetes"], new DateOnly(2026, 1, 1)), 5).Result;
        Assert.Equal(tinyCells.Select(c => $"{c.Item1}.{c.Item2}").Order(),
            tiny.Statistics.SelectMany(s => (s.Value.Suppressed ?? []).Select(cell => $"{s.Key}.{cell}")).Order());
        var expected = HealthTrain.Hub.Merging.StatisticsPooling.Pool(f.CohortStats.Manifest, [("hospital-a", hospitalA), (f.TinyClinic, tiny)]);
        foreach (var e in expected.Statistics.Where(s => s.Kind is StatisticKinds.Count or StatisticKinds.Histogram))
        {
            var p = pooled.Statistics.Single(s => s.Name == e.Name);
            Assert.Equal((e.Value, e.Underflow, e.Overflow), (p.Value, p.Underflow, p.Overflow));
            Assert.Equal(e.Counts, p.Counts);
            Assert.Equal(e.Categories?.OrderBy(c => c.Key), p.Categories?.OrderBy(c => c.Key));
            Assert.Equal(e.Suppressed?.OrderBy(c => c.Key), p.Suppressed?.OrderBy(c => c.Key));
        }
        // The tiny clinic had no observations: its n = 0 is not disclosive, so the BMI pools exactly hospital-a's.
        var bmi = pooled.Statistics.Single(s => s.Name == "bmi");
        Assert.Equal(hospitalA.Statistics["bmi"].N, bmi.N);

        // The researcher's table says so.
        var text = new StringWriter();
        Assert.Equal(0, await RunCommands.RunAsync("results", new CliArgs(
            ["results", run.Id.ToString(), "--hub", f.Federation.HubUrl.ToString(), "--token", f.Alice.Connection.Token], "json"), text));
        var table = text.ToString();
        Assert.Contains($"{f.TinyClinic} k = 5, 4 withheld", table);
        Assert.Matches($@"patients\s+count\s+2\s+>= {f.Slices.Parts[0].PatientCount + 1} \(suppressed at 1 station\)", table);
        Assert.Matches(@"\[70, 80\)\s+>= \d+ \(suppressed at [12] stations?\)", table);
    }
}
