using System.Globalization;
using System.Text.Json;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Cli.Commands;

/// <summary>
/// <c>healthtrain station audit</c> (the station's own audit log) and <c>healthtrain station receipts</c> (the receipts of its
/// entries in the hub's ledger, exported for <c>healthtrain ledger verify --receipts</c>), through the station's own API.
/// </summary>
public static class StationAuditCommands
{
    public static async Task<int> AuditAsync(CliArgs args, TextWriter output)
    {
        var job = args.Option("job") is { } j ? long.Parse(j, NumberStyles.None, CultureInfo.InvariantCulture) : (long?)null;
        var train = args.Option("train");
        var kind = args.Option("kind");
        var limit = args.Option("limit") is { } l ? int.Parse(l, NumberStyles.None, CultureInfo.InvariantCulture) : 200;
        var json = args.Flag("json");
        using var http = StationConnection.Connect(args);
        args.RejectUnknown();
        var query = string.Join("&", new[]
        {
            job is { } id ? $"job={id}" : null, train is null ? null : "train=" + Uri.EscapeDataString(train),
            kind is null ? null : "kind=" + Uri.EscapeDataString(kind), $"limit={limit}",
        }.Where(p => p is not null));
        var records = await StationConnection.ReadAsync<List<StationAuditRecord>>(await http.GetAsync("/api/audit?" + query));
        if (json)
        {
            output.WriteLine(JsonSerializer.Serialize(records, ProtocolJson.Api));
            return 0;
        }
        if (records.Count == 0) output.WriteLine("no audit records match");
        // Oldest first reads as a story; the API gives newest first so a UI can page back.
        foreach (var r in Enumerable.Reverse(records))
            output.WriteLine($"{r.At:yyyy-MM-dd HH:mm:ss}  {r.Kind,-18} {(r.JobId is { } jobId ? $"job {jobId}" : ""),-9} "
                + $"{(r.Train is null ? "" : $"{r.Train} {r.TrainVersion}"),-24} {r.Actor,-16} {Summary(r)}");
        return 0;
    }

    public static async Task<int> ReceiptsAsync(CliArgs args, TextWriter output)
    {
        var outPath = args.Option("out");
        using var http = StationConnection.Connect(args);
        args.RejectUnknown();
        var receipts = await StationConnection.ReceiptsAsync(http);
        if (outPath is not null)
        {
            // Receipts with a problem go too: a receipt the hub got wrong is evidence, and ledger verify reports it.
            await File.WriteAllTextAsync(outPath, JsonSerializer.Serialize(receipts.Select(r => r.Receipt), ProtocolJson.Api));
            output.WriteLine($"{receipts.Count} receipt(s) written to {outPath}" + (receipts.Count(r => r.Problem is not null) is > 0 and var bad ? $" ({bad} with a problem)" : ""));
            return 0;
        }
        if (receipts.Count == 0) output.WriteLine("no receipts kept yet");
        foreach (var r in receipts)
            output.WriteLine($"{r.Receipt.Record.Index,6}  {r.Kind,-18} {r.Subject,-14} tree {r.Receipt.Head.TreeSize,-6} {r.ReceivedAt:yyyy-MM-dd HH:mm:ss}"
                + (r.Problem is null ? "" : $"  PROBLEM: {r.Problem}"));
        return 0;
    }

    /// <summary>Reads receipts from files and folders: JSON arrays of receipts (<c>station receipts --out</c>) or of the station API's records.</summary>
    public static List<LedgerReceipt> ReadReceipts(IEnumerable<string> paths)
    {
        var receipts = new List<LedgerReceipt>();
        foreach (var path in paths)
        {
            var files = Directory.Exists(path) ? Directory.GetFiles(path, "*.json").Order(StringComparer.Ordinal).ToArray()
                : File.Exists(path) ? [path]
                : throw new UsageException($"--receipts {path}: no such file or folder");
            foreach (var file in files)
            {
                try
                {
                    using var doc = JsonDocument.Parse(File.ReadAllText(file));
                    var items = doc.RootElement.ValueKind == JsonValueKind.Array ? doc.RootElement.EnumerateArray().ToList() : [doc.RootElement];
                    foreach (var item in items)
                    {
                        var receipt = item.TryGetProperty("receipt", out var inner)
                            ? inner.Deserialize<LedgerReceipt>(ProtocolJson.Api)
                            : item.Deserialize<LedgerReceipt>(ProtocolJson.Api);
                        if (receipt?.Record?.Leaf is null || receipt.Proof?.AuditPath is null || receipt.Head?.RootHash is null)
                            throw new JsonException("an element is not a ledger receipt (record, proof, head)");
                        receipts.Add(receipt);
                    }
                }
                catch (JsonException e)
                {
                    throw new InvalidOperationException($"{file} holds no ledger receipts: {e.Message}", e);
                }
            }
        }
        return receipts;
    }

    private static string Summary(StationAuditRecord r)
    {
        string? Text(string name) => r.Details[name]?.ToString();
        return r.Kind switch
        {
            "view.materialized" => $"{Text("name")}: {Text("rows")} rows ({Text("kind")} over {Text("resourceType")})",
            "approval.approved" or "approval.rejected" => $"{r.Digest} by {Text("via")}: {Text("reason")}",
            "result.released" or "update.released" => $"{Text("kind")} {Text("digest")}, {Text("bytes")} bytes"
                + (r.Details["privacy"] is { } p ? $", noised (σ {p["noiseStandardDeviation"]})" : ""),
            "job.refused" or "job.failed" => $"{Text("stage")}: {Text("reason")}",
            _ => r.Details.ToJsonString(),
        };
    }
}
