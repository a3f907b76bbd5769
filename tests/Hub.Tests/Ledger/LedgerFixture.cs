using System.Security.Cryptography;
using System.Text.Json.Nodes;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

/// <summary>A real hub database in a temporary folder with a ledger store on it.</summary>
internal sealed class LedgerFixture : IDisposable
{
    private readonly bool ownsDirectory;

    public LedgerFixture(LedgerSigner? signer = null, string? databasePath = null)
    {
        ownsDirectory = databasePath is null;
        Directory = databasePath is null ? System.IO.Directory.CreateTempSubdirectory("ht-ledger-").FullName : Path.GetDirectoryName(databasePath)!;
        DatabasePath = databasePath ?? Path.Combine(Directory, "hub.db");
        Db = new HubDatabase(DatabasePath);
        Db.Migrate();
        Signer = signer ?? LedgerSigner.FromKey(ECDsa.Create(ECCurve.NamedCurves.nistP256));
        Store = new LedgerStore(Db, Signer);
    }

    public string Directory { get; }
    public string DatabasePath { get; }
    public HubDatabase Db { get; }
    public LedgerSigner Signer { get; }
    public LedgerStore Store { get; }

    /// <summary>A hub-recorded event that differs per <paramref name="i"/>.</summary>
    public LedgerReceipt Record(int i, string note = "") =>
        Store.Record(LedgerKinds.JobDispatched, "hub", $"job/{i}", new JsonObject { ["job"] = i, ["station"] = $"hospital-{i % 3}", ["note"] = note });

    public List<LedgerReceipt> RecordMany(int count, int start = 0) => [.. Enumerable.Range(start, count).Select(i => Record(i))];

    /// <summary>What a client checks when it fetches everything the hub serves now, with a proof for every entry.</summary>
    public LedgerAuditInput FullAudit(SignedTreeHead? trusted, IReadOnlyList<LedgerReceipt> receipts)
    {
        var latest = Store.Head();
        return new LedgerAuditInput(Signer.PublicKey, latest)
        {
            Trusted = trusted,
            Consistency = trusted is not null && trusted.TreeSize <= latest.TreeSize ? Store.ConsistencyProof(trusted.TreeSize, latest.TreeSize) : null,
            Receipts = receipts,
            EntriesFrom = 0,
            EntriesTo = latest.TreeSize,
            Entries = Store.Entries(0, (int)latest.TreeSize),
            Proofs = [.. Enumerable.Range(0, (int)latest.TreeSize).Select(i => Store.InclusionProof(i, latest.TreeSize))],
            ActorKeys = keyId => keyId == Signer.KeyId ? Signer.PublicKey : null,
        };
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (ownsDirectory) System.IO.Directory.Delete(Directory, recursive: true);
    }
}
