using System.Text.Json.Nodes;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Models;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Runs;

/// <summary>
/// A run's provenance as W3C PROV-JSON: the researcher, stations, the people and policies who approved the train at each
/// station, and the hub as agents; each approval, each station's execution per round and each merge as activities; the
/// train image, every result or model update, every pooled round and every model version (derived from the version
/// before it and from the round's updates) as entities — each element carrying the index of the ledger entry that
/// records it, so the graph can be checked against the ledger. <see cref="ExportModel"/> gives one model version's lineage.
/// </summary>
public sealed class RunProvenance(RunStore runs, TrainCatalog trains, LedgerStore ledger, ModelVersions models)
{
    private const string Ns = "ht";

    public JsonObject? Export(long runId, Caller caller)
    {
        if (runs.Find(runId, caller) is not { } run) return null;
        return Build(run, caller, int.MaxValue, null);
    }

    /// <summary>
    /// The provenance of one model version (<c>sha256:…</c> or <c>RUN/ROUND</c>): its run up to the version's round — every
    /// earlier version it descends from, the updates merged into each, the executions and approvals behind them.
    /// </summary>
    public JsonObject? ExportModel(string reference, Caller caller)
    {
        if (models.Find(caller, reference) is not { } version || runs.Find(version.RunId, caller) is not { } run) return null;
        return Build(run, caller, version.Round, version);
    }

    private JsonObject Build(RunInfo run, Caller caller, int lastRound, ModelVersionInfo? subject)
    {
        // Whoever may see the run may see its train: runs are started only with the caller's own trains.
        var train = trains.Find(run.TrainId, caller)!;
        var index = LedgerIndex();
        JsonNode? EntryOf(string kind, string subjectName) =>
            index.TryGetValue((kind, subjectName), out var entries) ? entries[0].Index : null;
        var jobs = run.Jobs.Where(j => j.Round <= lastRound).ToList();
        var versions = models.List(caller, run.Id).Where(v => v.Round <= lastRound).ToDictionary(v => v.Round);

        var agents = new JsonObject
        {
            [$"{Ns}:identity/{run.Owner}"] = new JsonObject { ["prov:type"] = "prov:Person", [$"{Ns}:role"] = Roles.Researcher },
            [$"{Ns}:hub"] = new JsonObject { ["prov:type"] = "prov:SoftwareAgent", [$"{Ns}:role"] = "hub" },
        };
        foreach (var station in jobs.Select(j => j.Station).Distinct().Order(StringComparer.Ordinal))
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
        var delegated = new JsonObject();
        var n = 0;
        string Id(string kind) => $"_:{kind}{++n}";

        associated[Id("a")] = new JsonObject { ["prov:activity"] = runActivity, ["prov:agent"] = $"{Ns}:identity/{run.Owner}" };
        attributed[Id("t")] = new JsonObject { ["prov:entity"] = trainId, ["prov:agent"] = $"{Ns}:identity/{train.Owner}" };
        foreach (var job in jobs)
        {
            var execution = $"{Ns}:job/{job.Id}";
            var stationAgent = $"{Ns}:identity/{job.Station}";
            activities[execution] = new JsonObject
            {
                ["prov:type"] = $"{Ns}:StationExecution", ["prov:startTime"] = (job.StartedAt ?? job.ClaimedAt)?.ToString("O"),
                ["prov:endTime"] = job.FinishedAt?.ToString("O"), [$"{Ns}:round"] = job.Round, [$"{Ns}:state"] = job.State,
                [$"{Ns}:error"] = job.Error, [$"{Ns}:ledgerEntry"] = EntryOf(LedgerKinds.JobDispatched, $"job/{job.Id}"),
            };
            associated[Id("a")] = new JsonObject { ["prov:activity"] = execution, ["prov:agent"] = stationAgent };
            used[Id("u")] = new JsonObject { ["prov:activity"] = execution, ["prov:entity"] = trainId };
            informed[Id("i")] = new JsonObject { ["prov:informed"] = execution, ["prov:informant"] = runActivity };
            // A training round after the first starts from the version the round before produced.
            if (versions.TryGetValue(job.Round - 1, out var start))
                used[Id("u")] = new JsonObject { ["prov:activity"] = execution, ["prov:entity"] = ModelId(start) };

            // The approval the station ran the job under: its own statement in the ledger, naming who decided.
            var approvalEntry = index.TryGetValue((LedgerKinds.ApprovalRecorded, $"job/{job.Id}"), out var statements)
                ? statements.LastOrDefault(e => e.Payload["decision"]?.GetValue<string>() == "approved")
                : null;
            if (approvalEntry is not null)
            {
                var approval = $"{Ns}:approval/job/{job.Id}";
                var by = approvalEntry.Payload["by"]?.GetValue<string>() ?? "unknown";
                var viaPolicy = by.StartsWith("policy:", StringComparison.Ordinal);
                var decider = viaPolicy ? $"{Ns}:identity/{job.Station}/policy/{by["policy:".Length..]}" : $"{Ns}:identity/{job.Station}/operator/{by}";
                agents[decider] = new JsonObject
                {
                    ["prov:type"] = viaPolicy ? "prov:SoftwareAgent" : "prov:Person",
                    [$"{Ns}:role"] = viaPolicy ? "approval-policy" : "station-operator", [$"{Ns}:name"] = by,
                };
                delegated[Id("del")] = new JsonObject { ["prov:delegate"] = decider, ["prov:responsible"] = stationAgent };
                activities[approval] = new JsonObject
                {
                    ["prov:type"] = $"{Ns}:Approval", ["prov:endTime"] = approvalEntry.Payload["at"]?.GetValue<string>(),
                    [$"{Ns}:decidedBy"] = by, [$"{Ns}:decidedVia"] = viaPolicy ? "policy" : "person",
                    [$"{Ns}:reason"] = approvalEntry.Payload["reason"]?.DeepClone(), [$"{Ns}:digest"] = approvalEntry.Payload["digest"]?.DeepClone(),
                    [$"{Ns}:ledgerEntry"] = approvalEntry.Index,
                };
                associated[Id("a")] = new JsonObject { ["prov:activity"] = approval, ["prov:agent"] = decider };
                used[Id("u")] = new JsonObject { ["prov:activity"] = approval, ["prov:entity"] = trainId };
                informed[Id("i")] = new JsonObject { ["prov:informed"] = execution, ["prov:informant"] = approval };
            }

            if (job.ResultDigest is null) continue;
            var result = $"{Ns}:result/job/{job.Id}";
            entities[result] = new JsonObject
            {
                // A training job's result is its model update: the digest is the update's.
                ["prov:type"] = versions.ContainsKey(job.Round) ? $"{Ns}:ModelUpdate" : $"{Ns}:StationResult", [$"{Ns}:digest"] = job.ResultDigest,
                [$"{Ns}:ledgerEntry"] = EntryOf(LedgerKinds.ResultUploaded, $"job/{job.Id}"),
            };
            generated[Id("g")] = new JsonObject { ["prov:entity"] = result, ["prov:activity"] = execution };
            attributed[Id("t")] = new JsonObject { ["prov:entity"] = result, ["prov:agent"] = stationAgent };
        }
        foreach (var round in jobs.Select(j => j.Round).Distinct().Order())
        {
            var subjectName = $"run/{run.Id}/round/{round}";
            if (EntryOf(LedgerKinds.MergeCompleted, subjectName) is not { } mergeEntry) continue;
            var merge = $"{Ns}:merge/{subjectName}";
            activities[merge] = new JsonObject { ["prov:type"] = $"{Ns}:Merge", [$"{Ns}:round"] = round, [$"{Ns}:ledgerEntry"] = mergeEntry };
            associated[Id("a")] = new JsonObject { ["prov:activity"] = merge, ["prov:agent"] = $"{Ns}:hub" };
            string product;
            if (versions.TryGetValue(round, out var version))
            {
                product = ModelId(version);
                entities[product] = new JsonObject
                {
                    ["prov:type"] = $"{Ns}:ModelVersion", [$"{Ns}:digest"] = version.Digest, [$"{Ns}:round"] = round, [$"{Ns}:version"] = version.Id,
                    [$"{Ns}:strategy"] = version.Strategy, [$"{Ns}:samples"] = version.Samples,
                    [$"{Ns}:ledgerEntry"] = EntryOf(LedgerKinds.ModelVersioned, $"model/{version.Id}"),
                };
                attributed[Id("t")] = new JsonObject { ["prov:entity"] = product, ["prov:agent"] = $"{Ns}:hub" };
                if (versions.TryGetValue(round - 1, out var parent))
                {
                    used[Id("u")] = new JsonObject { ["prov:activity"] = merge, ["prov:entity"] = ModelId(parent) };
                    derived[Id("d")] = new JsonObject { ["prov:generatedEntity"] = product, ["prov:usedEntity"] = ModelId(parent), ["prov:activity"] = merge, ["prov:type"] = "prov:Revision" };
                }
            }
            else
            {
                product = $"{Ns}:pooled/{subjectName}";
                entities[product] = new JsonObject { ["prov:type"] = $"{Ns}:PooledStatistics", [$"{Ns}:round"] = round };
            }
            generated[Id("g")] = new JsonObject { ["prov:entity"] = product, ["prov:activity"] = merge };
            foreach (var job in jobs.Where(j => j.Round == round && j.ResultDigest is not null))
            {
                used[Id("u")] = new JsonObject { ["prov:activity"] = merge, ["prov:entity"] = $"{Ns}:result/job/{job.Id}" };
                derived[Id("d")] = new JsonObject { ["prov:generatedEntity"] = product, ["prov:usedEntity"] = $"{Ns}:result/job/{job.Id}", ["prov:activity"] = merge };
            }
        }

        var document = new JsonObject
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
            ["actedOnBehalfOf"] = delegated,
        };
        if (subject is not null) document[$"{Ns}:subject"] = ModelId(subject);
        return document;
    }

    /// <summary>A model version's PROV entity id.</summary>
    public static string ModelId(ModelVersionInfo version) => $"{Ns}:model/{version.Digest}/run/{version.RunId}/round/{version.Round}";

    /// <summary>(kind, subject) → the ledger entries recording it, in ledger order. A scan: fine at today's ledger sizes.</summary>
    private Dictionary<(string Kind, string Subject), List<LedgerEntry>> LedgerIndex()
    {
        var map = new Dictionary<(string, string), List<LedgerEntry>>();
        var size = ledger.Head().TreeSize;
        for (long from = 0; from < size; from += 1000)
            foreach (var record in ledger.Entries(from, (int)Math.Min(1000, size - from)))
            {
                var entry = LedgerEntry.Parse(record.Leaf);
                if (!map.TryGetValue((entry.Kind, entry.Subject), out var list)) map[(entry.Kind, entry.Subject)] = list = [];
                list.Add(entry);
            }
        return map;
    }
}
