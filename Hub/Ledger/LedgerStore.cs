using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Hub.Ledger;

/// <summary>
/// The provenance ledger in the hub database: an append-only RFC 6962 Merkle tree of signed statements.
/// <list type="bullet">
/// <item><c>ledger_entries</c>: index, leaf (the canonical entry bytes), leaf hash;</item>
/// <item><c>ledger_nodes</c>: every complete subtree's hash, level 0 being the leaf hashes, written once when the
/// subtree completes — roots and proofs are O(log² n) primary-key reads at any size, and never read entry rows, so
/// a damaged entry cannot make the proofs agree with it;</item>
/// <item><c>ledger_heads</c>: every tree head the hub signed, one per append transaction.</item>
/// </list>
/// Appends are serialized: one writer in this process, and SQLite's write lock (BEGIN IMMEDIATE) across processes.
/// </summary>
public sealed class LedgerStore
{
    private readonly HubDatabase db;
    private readonly LedgerSigner signer;
    private readonly TimeProvider time;
    private readonly Lock writer = new();

    public LedgerStore(HubDatabase db, LedgerSigner signer) : this(db, signer, TimeProvider.System) { }

    public LedgerStore(HubDatabase db, LedgerSigner signer, TimeProvider time)
    {
        this.db = db;
        this.signer = signer;
        this.time = time;
    }

    /// <summary>Appends a signed statement in a transaction of its own; returns its receipt under the new signed tree head.</summary>
    public LedgerReceipt Append(SignedStatement statement)
    {
        lock (writer)
        {
            using var c = db.Open();
            using var tx = c.BeginTransaction(deferred: false);
            var receipt = Append(c, tx, statement);
            tx.Commit();
            return receipt;
        }
    }

    /// <summary>
    /// Appends inside the caller's transaction, so the entry commits or rolls back with the state change it records.
    /// The transaction must be a write transaction from the start (<c>BeginTransaction(deferred: false)</c>, SQLite's
    /// BEGIN IMMEDIATE), which serializes it with every other writer. The receipt holds once the caller commits.
    /// </summary>
    public LedgerReceipt Append(SqliteConnection connection, SqliteTransaction transaction, SignedStatement statement)
    {
        var (head, records) = AppendCore(connection, transaction, [statement]);
        var record = records[0];
        using var nodes = new SqliteNodes(connection, transaction);
        return new LedgerReceipt(record, new InclusionProof(record.Index, head.TreeSize, MerkleProofs.Inclusion(nodes, record.Index, head.TreeSize)), head);
    }

    /// <summary>Appends many statements in one transaction under one new tree head (imports, benchmarks); returns that head.</summary>
    public SignedTreeHead AppendMany(IEnumerable<SignedStatement> statements)
    {
        lock (writer)
        {
            using var c = db.Open();
            using var tx = c.BeginTransaction(deferred: false);
            var (head, _) = AppendCore(c, tx, statements);
            tx.Commit();
            return head;
        }
    }

    /// <summary>Records a statement the hub makes, signed with the hub's ledger key and timed now.</summary>
    public LedgerReceipt Record(string kind, string actor, string subject, JsonObject payload) =>
        Append(signer.SignStatement(new LedgerStatement(kind, actor, subject, payload, time.GetUtcNow())));

    /// <summary>Like <see cref="Record(string, string, string, JsonObject)"/>, inside the caller's write transaction.</summary>
    public LedgerReceipt Record(SqliteConnection connection, SqliteTransaction transaction, string kind, string actor, string subject, JsonObject payload) =>
        Append(connection, transaction, signer.SignStatement(new LedgerStatement(kind, actor, subject, payload, time.GetUtcNow())));

    /// <summary>The newest signed tree head; the empty tree's head (signed on first use) before anything was appended.</summary>
    public SignedTreeHead Head()
    {
        using (var c = db.Open())
            if (Latest(c, null) is { } head) return head;
        lock (writer)
        {
            using var c = db.Open();
            using var tx = c.BeginTransaction(deferred: false);
            var head = Latest(c, tx);
            if (head is null)
            {
                head = signer.SignTreeHead(0, time.GetUtcNow(), Rfc6962.EmptyRoot);
                Insert(c, tx, head);
            }
            tx.Commit();
            return head;
        }
    }

    /// <summary>The tree head the hub signed for exactly <paramref name="treeSize"/> entries, if it signed one.</summary>
    public SignedTreeHead? HeadAt(long treeSize)
    {
        using var c = db.Open();
        return Read(c.QuerySingleOrDefault<HeadRow>(HeadColumns + " WHERE tree_size = @treeSize", new { treeSize }));
    }

    /// <summary>Every tree head the hub signed, smallest tree first.</summary>
    public IReadOnlyList<SignedTreeHead> Heads()
    {
        using var c = db.Open();
        return c.Query<HeadRow>(HeadColumns + " ORDER BY tree_size").Select(r => Read(r)!).ToList();
    }

    /// <summary>Entries [from, from + count) as stored: index and exact leaf bytes.</summary>
    public IReadOnlyList<LedgerRecord> Entries(long from, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(from);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        using var c = db.Open();
        var to = from > long.MaxValue - count ? long.MaxValue : from + count;
        return c.Query<(long Index, byte[] Leaf)>("SELECT idx, leaf FROM ledger_entries WHERE idx >= @from AND idx < @to ORDER BY idx",
            new { from, to }).Select(r => new LedgerRecord(r.Index, r.Leaf)).ToList();
    }

    /// <summary>
    /// The audit path of entry <paramref name="index"/> in the tree of <paramref name="treeSize"/> entries (at most the
    /// latest head's size). Out-of-range arguments throw <see cref="ArgumentException"/> with a message fit for the caller.
    /// </summary>
    public InclusionProof InclusionProof(long index, long treeSize)
    {
        using var c = db.Open();
        CheckSize(c, treeSize);
        if (index < 0 || index >= treeSize)
            throw new ArgumentException($"a tree of {treeSize} entries has no entry {index}");
        using var nodes = new SqliteNodes(c, null);
        return new InclusionProof(index, treeSize, MerkleProofs.Inclusion(nodes, index, treeSize));
    }

    /// <summary>The proof that the tree of <paramref name="fromSize"/> entries is a prefix of the tree of <paramref name="toSize"/>.</summary>
    public ConsistencyProof ConsistencyProof(long fromSize, long toSize)
    {
        using var c = db.Open();
        CheckSize(c, toSize);
        if (fromSize < 0 || fromSize > toSize)
            throw new ArgumentException($"no consistency proof from {fromSize} to {toSize} entries");
        using var nodes = new SqliteNodes(c, null);
        return new ConsistencyProof(fromSize, toSize, MerkleProofs.Consistency(nodes, fromSize, toSize));
    }

    private (SignedTreeHead Head, List<LedgerRecord> Records) AppendCore(SqliteConnection c, SqliteTransaction tx, IEnumerable<SignedStatement> statements)
    {
        var last = Latest(c, tx);
        var size = c.ExecuteScalar<long>("SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger_nodes WHERE level = 0", transaction: tx);
        using var nodes = new SqliteNodes(c, tx);
        var frontier = TreeFrontier.Load(size, nodes);
        // Never extend a tree whose stored nodes no longer give the root the hub last signed.
        if ((last is null && size > 0) || (last is not null && (last.TreeSize != size || !Rfc6962.SameHash(frontier.Root(), last.RootHash))))
            throw new InvalidOperationException($"the ledger store is damaged: its nodes hold {size} leaves, which do not give the last signed tree head (size {last?.TreeSize ?? 0}); refusing to append");

        using var insertEntry = Command(c, tx, "INSERT INTO ledger_entries (idx, leaf, leaf_hash) VALUES ($a, $b, $c)");
        using var insertNode = Command(c, tx, "INSERT INTO ledger_nodes (level, idx, hash) VALUES ($a, $b, $c)");
        var records = new List<LedgerRecord>();
        foreach (var statement in statements)
        {
            var index = frontier.Size;
            var leaf = LedgerEntry.At(index, statement).ToLeaf();
            var leafHash = Rfc6962.LeafHash(leaf);
            Run(insertEntry, index, leaf, leafHash);
            Run(insertNode, 0, index, leafHash);
            foreach (var (level, nodeIndex, hash) in frontier.Append(leafHash)) Run(insertNode, level, nodeIndex, hash);
            records.Add(new LedgerRecord(index, leaf));
        }
        if (records.Count == 0) throw new ArgumentException("nothing to append", nameof(statements));

        // Tree head times never run backwards, even if the clock does.
        var now = time.GetUtcNow();
        var head = signer.SignTreeHead(frontier.Size, last is not null && last.Timestamp > now ? last.Timestamp : now, frontier.Root());
        Insert(c, tx, head);
        return (head, records);
    }

    private static void Insert(SqliteConnection c, SqliteTransaction tx, SignedTreeHead head) =>
        c.Execute("INSERT INTO ledger_heads (tree_size, timestamp, root_hash, key_id, signature) VALUES (@size, @timestamp, @root, @keyId, @signature)",
            new { size = head.TreeSize, timestamp = LedgerTime.ToText(head.Timestamp), root = head.RootHash, keyId = head.KeyId, signature = head.Signature }, tx);

    private static SignedTreeHead? Latest(SqliteConnection c, SqliteTransaction? tx) =>
        Read(c.QuerySingleOrDefault<HeadRow>(HeadColumns + " ORDER BY tree_size DESC LIMIT 1", transaction: tx));

    private static void CheckSize(SqliteConnection c, long treeSize)
    {
        var size = Latest(c, null)?.TreeSize ?? 0;
        if (treeSize < 0 || treeSize > size)
            throw new ArgumentException($"tree size {treeSize} is out of range: the ledger's latest signed tree head has {size} entries");
    }

    private const string HeadColumns =
        "SELECT tree_size AS TreeSize, timestamp AS Timestamp, root_hash AS RootHash, key_id AS KeyId, signature AS Signature FROM ledger_heads";

    private static SignedTreeHead? Read(HeadRow? row) =>
        row is null ? null : new SignedTreeHead(row.TreeSize, LedgerTime.Parse(row.Timestamp), row.RootHash, row.KeyId, row.Signature);

    private static SqliteCommand Command(SqliteConnection c, SqliteTransaction tx, string sql)
    {
        var command = c.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        command.Parameters.Add("$a", SqliteType.Integer);
        command.Parameters.Add("$b", SqliteType.Integer);
        command.Parameters.Add("$c", SqliteType.Blob);
        return command;
    }

    private static void Run(SqliteCommand command, object a, object b, byte[] c)
    {
        command.Parameters[0].Value = a;
        command.Parameters[1].Value = b;
        command.Parameters[2].Value = c;
        command.ExecuteNonQuery();
    }

    private sealed class HeadRow
    {
        public long TreeSize { get; init; }
        public string Timestamp { get; init; } = "";
        public byte[] RootHash { get; init; } = [];
        public string KeyId { get; init; } = "";
        public byte[] Signature { get; init; } = [];
    }

    /// <summary>Complete-subtree hashes read from <c>ledger_nodes</c>, one prepared primary-key lookup each.</summary>
    private sealed class SqliteNodes : IMerkleNodes, IDisposable
    {
        private readonly SqliteCommand command;

        public SqliteNodes(SqliteConnection c, SqliteTransaction? tx)
        {
            command = c.CreateCommand();
            command.Transaction = tx;
            command.CommandText = "SELECT hash FROM ledger_nodes WHERE level = $level AND idx = $idx";
            command.Parameters.Add("$level", SqliteType.Integer);
            command.Parameters.Add("$idx", SqliteType.Integer);
        }

        public byte[] Node(int level, long index)
        {
            command.Parameters[0].Value = level;
            command.Parameters[1].Value = index;
            return command.ExecuteScalar() as byte[]
                ?? throw new InvalidOperationException($"the ledger store has no node at level {level}, index {index}: it is damaged");
        }

        public void Dispose() => command.Dispose();
    }
}
