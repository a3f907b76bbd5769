using System.Text.Json.Nodes;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Runs;

/// <summary>
/// A run's provenance as W3C PROV-JSON: the researcher, stations and hub as agents; each station's execution
/// per round and each merge as activities; the train image, every result and every pooled round as entities —
/// each element carrying the index of the ledger entry that records it, so the graph can be checked against the ledger.
/// </summary>
public sealed class RunProvenance(RunStore runs, TrainCatalog trains, LedgerStore ledger)
{
    private const string Ns = "ht";

    public JsonObject? Export(long runId, Caller caller)
    {
        if (runs.Find(runId, caller) is not { } run) return null;
        // Whoever may see the run may see its train: runs are started only with the caller's own trains.
        var train = trains.Find(run.TrainId, caller)!;
        var ledgerIndex = LedgerIndexBySubject();
        JsonNode? EntryOf(string kind, string subject) =>
            ledgerIndex.TryGetValue((kind, subject), out var index) ? index : null;

        var agents = new JsonObject
        {
            [$"{Ns}:identity/{run.Owner}"] = new JsonObject { ["prov:type"] = "prov:Person", [$"{Ns}:role"] = Roles.Researcher },
            [$"{Ns}:hub"] = new JsonObject { ["prov:type"] = "prov:SoftwareAgent", [$"{Ns}:role"] = "hub" },
        };
        foreach (var station in run.Jobs.Select(j => j.Station).Distinct().Order(StringComparer.Ordinal))
            agents[$"{Ns}:identity/{station}"] = new JsonObject { ["prov:type"] = "prov:SoftwareAgent", [$"{Ns}:role"] = Roles.Station };

        var trainId = $"{Ns}:train/{train.Id}";
        var entities = new JsonObject
        {
            [trainId] = new JsonObject
            {
                ["prov:type"] = $"{Ns}:TrainImage", [$"{Ns}:repository"] = train.Repository, [$"{Ns}:version"] = train.Version,
                [$"{Ns}:digest"] = train.Digest, [$"{Ns}:ledgerEntry"] = EntryOf(LedgerKinds.TrainSubmitted, $"train/{train.Id}"),
            },
        };
        var runActivity = $"{Ns}:run/{run.Id}";
        var activities = new JsonObject
        {
            [runActivity] = new JsonObject
            {
                ["prov:startTime"] = run.CreatedAt.ToString("O"), ["prov:endTime"] = run.FinishedAt?.ToString("O"),
                [$"{Ns}:state"] = run.State, [$"{Ns}:ledgerEntry"] = EntryOf(LedgerKinds.RunCreated, $"run/{run.Id}"),
            },
        };
        var associated = new JsonObject();
        var used = new JsonObject();
        var generated = new JsonObject();
        var derived = new JsonObject();
        var attributed = new JsonObject();
        var informed = new JsonObject();
        var n = 0;
        string Id(string kind) => $"_:{kind}{++n}";

        associated[Id("a")] = new JsonObject { ["prov:activity"] = runActivity, ["prov:agent"] = $"{Ns}:identity/{run.Owner}" };
        attributed[Id("t")] = new JsonObject { ["prov:entity"] = trainId, ["prov:agent"] = $"{Ns}:identity/{train.Owner}" };
        foreach (var job in run.Jobs)
        {
            var execution = $"{Ns}:job/{job.Id}";
            activities[execution] = new JsonObject
            {
                ["prov:type"] = $"{Ns}:StationExecution", ["prov:startTime"] = (job.StartedAt ?? job.ClaimedAt)?.ToString("O"),
                ["prov:endTime"] = job.FinishedAt?.ToString("O"), [$"{Ns}:round"] = job.Round, [$"{Ns}:state"] = job.State,
                [$"{Ns}:error"] = job.Error, [$"{Ns}:ledgerEntry"] = EntryOf(LedgerKinds.JobDispatched, $"job/{job.Id}"),
            };
            associated[Id("a")] = new JsonObject { ["prov:activity"] = execution, ["prov:agent"] = $"{Ns}:identity/{job.Station}" };
            used[Id("u")] = new JsonObject { ["prov:activity"] = execution, ["prov:entity"] = trainId };
            informed[Id("i")] = new JsonObject { ["prov:informed"] = execution, ["prov:informant"] = runActivity };
            if (job.ResultDigest is null) continue;
            var result = $"{Ns}:result/job/{job.Id}";
            entities[result] = new JsonObject
            {
                ["prov:type"] = $"{Ns}:StationResult", [$"{Ns}:digest"] = job.ResultDigest,
                [$"{Ns}:ledgerEntry"] = EntryOf(LedgerKinds.ResultUploaded, $"job/{job.Id}"),
            };
            generated[Id("g")] = new JsonObject { ["prov:entity"] = result, ["prov:activity"] = execution };
            attributed[Id("t")] = new JsonObject { ["prov:entity"] = result, ["prov:agent"] = $"{Ns}:identity/{job.Station}" };
        }
        foreach (var round in run.Jobs.Select(j => j.Round).Distinct().Order())
        {
            var subject = $"run/{run.Id}/round/{round}";
            if (EntryOf(LedgerKinds.MergeCompleted, subject) is not { } mergeEntry) continue;
            var merge = $"{Ns}:merge/{subject}";
            var pooled = $"{Ns}:pooled/{subject}";
            activities[merge] = new JsonObject { ["prov:type"] = $"{Ns}:Merge", [$"{Ns}:round"] = round, [$"{Ns}:ledgerEntry"] = mergeEntry };
            entities[pooled] = new JsonObject { ["prov:type"] = $"{Ns}:PooledStatistics", [$"{Ns}:round"] = round };
            associated[Id("a")] = new JsonObject { ["prov:activity"] = merge, ["prov:agent"] = $"{Ns}:hub" };
            generated[Id("g")] = new JsonObject { ["prov:entity"] = pooled, ["prov:activity"] = merge };
            foreach (var job in run.Jobs.Where(j => j.Round == round && j.ResultDigest is not null))
            {
                used[Id("u")] = new JsonObject { ["prov:activity"] = merge, ["prov:entity"] = $"{Ns}:result/job/{job.Id}" };
                derived[Id("d")] = new JsonObject { ["prov:generatedEntity"] = pooled, ["prov:usedEntity"] = $"{Ns}:result/job/{job.Id}" };
            }
        }

        return new JsonObject
        {
            ["prefix"] = new JsonObject { [Ns] = "https://healthtrain.org/ns/prov#" },
            ["agent"] = agents,
            ["entity"] = entities,
            ["activity"] = activities,
            ["wasAssociatedWith"] = associated,
            ["used"] = used,
            ["wasGeneratedBy"] = generated,
            ["wasDerivedFrom"] = derived,
            ["wasAttributedTo"] = attributed,
            ["wasInformedBy"] = informed,
        };
    }

    /// <summary>(kind, subject) → index of the first ledger entry recording it. A scan: fine at today's ledger sizes.</summary>
    private Dictionary<(string Kind, string Subject), long> LedgerIndexBySubject()
    {
        var map = new Dictionary<(string, string), long>();
        var size = ledger.Head().TreeSize;
        for (long from = 0; from < size; from += 1000)
            foreach (var record in ledger.Entries(from, (int)Math.Min(1000, size - from)))
            {
                var entry = LedgerEntry.Parse(record.Leaf);
                map.TryAdd((entry.Kind, entry.Subject), entry.Index);
            }
        return map;
    }
}
