using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Bench;

/// <summary>The ledger at 100,000 entries on the real SQLite store: append throughput and proof generation time.</summary>
public static class LedgerBench
{
    private const int Batch = 1_000;

    public static void Run(int entries, TextWriter output)
    {
        var dir = Directory.CreateTempSubdirectory("ht-ledger-bench-").FullName;
        try
        {
            var db = new HubDatabase(Path.Combine(dir, "hub.db"));
            db.Migrate();
            var signer = LedgerSigner.FromKey(ECDsa.Create(ECCurve.NamedCurves.nistP256));
            var store = new LedgerStore(db, signer);
            var statements = Enumerable.Range(0, Batch).Select(i => signer.SignStatement(new LedgerStatement(
                LedgerKinds.JobExecuted, "hospital-a", $"job/{i}", new JsonObject { ["exitCode"] = 0, ["result"] = "sha256:" + new string('a', 64) }, DateTimeOffset.UtcNow))).ToList();

            var watch = Stopwatch.StartNew();
            for (var b = 0; b < entries / Batch; b++) store.AppendMany(statements);
            var batched = watch.Elapsed;

            // One transaction, one signed tree head and one receipt per entry: the path an event takes in the hub.
            const int Single = 500;
            watch.Restart();
            for (var i = 0; i < Single; i++) store.Append(statements[i]);
            var single = watch.Elapsed;
            var head = store.Head();

            var random = new Random(5);
            var inclusion = new List<double>();
            var consistency = new List<double>();
            for (var i = 0; i < 500; i++)
            {
                var size = random.NextInt64(1, head.TreeSize + 1);
                var index = random.NextInt64(0, size);
                watch.Restart();
                store.InclusionProof(index, size);
                inclusion.Add(watch.Elapsed.TotalMilliseconds);
                var from = random.NextInt64(0, head.TreeSize);
                watch.Restart();
                store.ConsistencyProof(from, head.TreeSize);
                consistency.Add(watch.Elapsed.TotalMilliseconds);
            }

            output.WriteLine($"ledger at {head.TreeSize} entries ({Environment.ProcessorCount} cores)");
            output.WriteLine($"append, {Batch} per transaction:                  {entries / batched.TotalSeconds,8:F0} entries/s");
            output.WriteLine($"append, one per transaction (head + receipt):    {Single / single.TotalSeconds,8:F0} entries/s ({single.TotalMilliseconds / Single:F2} ms each)");
            output.WriteLine($"inclusion proof:   {Describe(inclusion)}");
            output.WriteLine($"consistency proof: {Describe(consistency)}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string Describe(List<double> ms)
    {
        var sorted = ms.Order().ToList();
        double P(double p) => sorted[(int)Math.Min(sorted.Count - 1, Math.Floor(p * sorted.Count))];
        return $"median {P(0.5):F2} ms, p99 {P(0.99):F2} ms, max {sorted[^1]:F2} ms";
    }
}
