using System.Text.Json.Nodes;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Models;
using HealthTrain.Hub.Runs;
using HealthTrain.Hub.Storage;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using HealthTrain.Trains.Protocol.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.Hub.Tests.Runs;

/// <summary>PROV-JSON of runs and model versions: approvals name who decided, model versions their lineage, all with ledger entries.</summary>
public sealed class RunProvenanceTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ht-prov-").FullName;
    private readonly HubDatabase db;
    private readonly LedgerStore ledger;
    private readonly RunStore runs;
    private readonly JobQueue queue;
    private readonly RoundMerger merger;
    private readonly ModelFiles files;
    private readonly ModelVersions versions;
    private readonly RunProvenance provenance;
    private readonly TrainCatalog trains;
    private readonly Caller alice, bob;
    private readonly Caller[] stations;

    public RunProvenanceTests()
    {
        db = new HubDatabase(Path.Combine(dir, "hub.db"));
        db.Migrate();
        var identities = new Identities(db);
        var signal = new JobSignal();
        ledger = new LedgerStore(db, LedgerSigner.FromKey(System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256)));
        runs = new RunStore(db, signal, ledger);
        var merges = new MergeSignal();
        queue = new JobQueue(db, signal, ledger, merges, NullLogger<JobQueue>.Instance);
        files = new ModelFiles(new HubOptions { DataDir = dir });
        versions = new ModelVersions(db);
        merger = new RoundMerger(db, files, ledger, signal, merges, NullLogger<RoundMerger>.Instance);
        trains = new TrainCatalog(db, ledger);
        provenance = new RunProvenance(runs, trains, ledger, versions);
        identities.Create("alice", Roles.Researcher);
        identities.Create("bob", Roles.Researcher);
        identities.Create("st-1", Roles.Station);
        identities.Create("st-2", Roles.Station);
        (alice, bob) = (identities.FindByName("alice")!, identities.FindByName("bob")!);
        stations = [identities.FindByName("st-1")!, identities.FindByName("st-2")!];
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
    }

    private TrainInfo Register(string json, string digest) =>
        trains.Register(alice, "alice/" + digest[^2..], digest, ManifestValidator.ParseOrThrow(json)).Train;

    private static JobStarted Approved(string by) => new(new ApprovalStatement("sha256:aa", by, DateTimeOffset.UtcNow, "looks fine", []));

    /// <summary>The index of the ledger entry of <paramref name="kind"/> on <paramref name="subject"/>.</summary>
    private long EntryOf(string kind, string subject, Func<LedgerEntry, bool>? where = null)
    {
        var size = ledger.Head().TreeSize;
        return ledger.Entries(0, (int)size).Select(r => r.Parse()).Single(e => e.Kind == kind && e.Subject == subject && (where?.Invoke(e) ?? true)).Index;
    }

    private static IEnumerable<JsonObject> Relations(JsonObject prov, string relation) => prov[relation]!.AsObject().Select(p => p.Value!.AsObject());

    [Fact]
    public async Task Approvals_name_the_person_or_the_policy_who_decided_at_each_station()
    {
        var train = Register("""
            {"name":"stats","version":"1.0","authors":["a"],"kind":"statistics",
             "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],"outputs":{"statistics":[{"name":"patients","kind":"count"}]}}
            """, "sha256:aa");
        var runId = runs.Create(alice, train, [.. stations.Select(s => s.Id)], 1, new());
        var byPolicy = (await queue.NextAsync(stations[0], TimeSpan.Zero, default))!;
        var byPerson = (await queue.NextAsync(stations[1], TimeSpan.Zero, default))!;
        queue.MarkStarted(stations[0], byPolicy.JobId, Approved("policy:local-statistics"));
        queue.MarkStarted(stations[1], byPerson.JobId, Approved("dr-jones"));
        var patients = new StatisticsResult { Statistics = { ["patients"] = new StatisticValue { Kind = "count", Value = 4 } } };
        queue.Complete(stations[0], byPolicy.JobId, new JobResultUpload(patients, new()));
        queue.Complete(stations[1], byPerson.JobId, new JobResultUpload(patients, new()));

        var prov = provenance.Export(runId, alice)!;

        var policy = prov["agent"]!["ht:identity/st-1/policy/local-statistics"]!;
        Assert.Equal("prov:SoftwareAgent", policy["prov:type"]!.GetValue<string>());
        var person = prov["agent"]!["ht:identity/st-2/operator/dr-jones"]!;
        Assert.Equal("prov:Person", person["prov:type"]!.GetValue<string>());
        Assert.Contains(Relations(prov, "actedOnBehalfOf"), d => d["prov:delegate"]!.GetValue<string>() == "ht:identity/st-2/operator/dr-jones"
            && d["prov:responsible"]!.GetValue<string>() == "ht:identity/st-2");

        var approval = prov["activity"]![$"ht:approval/job/{byPerson.JobId}"]!;
        Assert.Equal(("dr-jones", "person", "looks fine"), (approval["ht:decidedBy"]!.GetValue<string>(), approval["ht:decidedVia"]!.GetValue<string>(), approval["ht:reason"]!.GetValue<string>()));
        Assert.Equal(EntryOf(LedgerKinds.ApprovalRecorded, $"job/{byPerson.JobId}"), approval["ht:ledgerEntry"]!.GetValue<long>());
        Assert.Equal("policy", prov["activity"]![$"ht:approval/job/{byPolicy.JobId}"]!["ht:decidedVia"]!.GetValue<string>());
        Assert.Contains(Relations(prov, "wasInformedBy"), i => i["prov:informed"]!.GetValue<string>() == $"ht:job/{byPerson.JobId}"
            && i["prov:informant"]!.GetValue<string>() == $"ht:approval/job/{byPerson.JobId}");
        Assert.Contains(Relations(prov, "wasAssociatedWith"), a => a["prov:activity"]!.GetValue<string>() == $"ht:approval/job/{byPolicy.JobId}"
            && a["prov:agent"]!.GetValue<string>() == "ht:identity/st-1/policy/local-statistics");
        Assert.Equal("ht:PooledStatistics", prov["entity"]![$"ht:pooled/run/{runId}/round/1"]!["prov:type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Each_model_version_derives_from_the_one_before_and_its_rounds_updates_with_ledger_entries()
    {
        var train = Register("""
            {"format":1,"name":"model","version":"1","authors":["a"],"kind":"training",
             "inputs":[{"kind":"fhir-resources","resourceType":"Patient"}],"outputs":{"tensors":[{"name":"w","shape":[3],"dtype":"float32"}]}}
            """, "sha256:bb");
        var runId = runs.Create(alice, train, [.. stations.Select(s => s.Id)], 2, new(), new TrainingSettings { Strategy = "fedavg", Seed = 1 });
        var jobsByRound = new Dictionary<int, List<long>>();
        for (var round = 1; round <= 2; round++)
        {
            jobsByRound[round] = [];
            foreach (var (station, i) in stations.Select((s, i) => (s, i)))
            {
                var job = (await queue.NextAsync(station, TimeSpan.Zero, default))!;
                var bytes = SafeTensors.ToBytes([SafeTensors.Float32("w", [3], [round, i, 1])]);
                var (digest, size) = await ModelFiles.ReceiveAsync(new MemoryStream(bytes), files.UpdatePath(job.JobId), default);
                queue.RecordUpdate(job.JobId, digest, size);
                queue.Complete(station, job.JobId, new JobResultUpload(new StatisticsResult(), new())
                {
                    Update = new ModelUpdateSummary(digest, 10, new Dictionary<string, double>()),
                });
                jobsByRound[round].Add(job.JobId);
            }
            merger.MergeRound(runId, round);
        }
        var (v1, v2) = (versions.Find(alice, $"{runId}/1")!, versions.Find(alice, $"{runId}/2")!);
        var (m1, m2) = ($"ht:model/{v1.Digest}/run/{runId}/round/1", $"ht:model/{v2.Digest}/run/{runId}/round/2");

        var prov = provenance.Export(runId, alice)!;
        Assert.Equal(EntryOf(LedgerKinds.ModelVersioned, $"model/{v1.Id}"), prov["entity"]![m1]!["ht:ledgerEntry"]!.GetValue<long>());
        Assert.Equal(EntryOf(LedgerKinds.ModelVersioned, $"model/{v2.Id}"), prov["entity"]![m2]!["ht:ledgerEntry"]!.GetValue<long>());
        Assert.Equal("fedavg", prov["entity"]![m2]!["ht:strategy"]!.GetValue<string>());
        var fromV2 = Relations(prov, "wasDerivedFrom").Where(d => d["prov:generatedEntity"]!.GetValue<string>() == m2).ToList();
        Assert.Contains(fromV2, d => d["prov:usedEntity"]!.GetValue<string>() == m1 && d["prov:type"]?.GetValue<string>() == "prov:Revision");
        Assert.Equal(jobsByRound[2].Select(j => $"ht:result/job/{j}").Order(), fromV2.Select(d => d["prov:usedEntity"]!.GetValue<string>()).Where(u => u != m1).Order());
        Assert.Equal("ht:ModelUpdate", prov["entity"]![$"ht:result/job/{jobsByRound[2][0]}"]!["prov:type"]!.GetValue<string>());
        // Round 2's executions started from version 1; no pooled statistics in a training run.
        Assert.Contains(Relations(prov, "used"), u => u["prov:activity"]!.GetValue<string>() == $"ht:job/{jobsByRound[2][1]}" && u["prov:entity"]!.GetValue<string>() == m1);
        Assert.DoesNotContain(prov["entity"]!.AsObject(), e => e.Key.StartsWith("ht:pooled/", StringComparison.Ordinal));

        // One version's provenance: its lineage only, up to its round.
        var first = provenance.ExportModel(v1.Digest, alice)!;
        Assert.Equal(m1, first["ht:subject"]!.GetValue<string>());
        Assert.Null(first["entity"]![m2]);
        Assert.Null(first["activity"]![$"ht:job/{jobsByRound[2][0]}"]);
        Assert.NotNull(first["activity"]![$"ht:job/{jobsByRound[1][0]}"]);
        Assert.Equal(m2, provenance.ExportModel($"{runId}/2", alice)!["ht:subject"]!.GetValue<string>());
        // Another researcher sees neither the run nor its versions.
        Assert.Null(provenance.ExportModel(v1.Digest, bob));
        Assert.Null(provenance.Export(runId, bob));
    }
}
