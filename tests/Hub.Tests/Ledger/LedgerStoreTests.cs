using System.Text.Json.Nodes;
using Dapper;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Tests.Ledger;

public sealed class LedgerStoreTests : IDisposable
{
    private readonly LedgerFixture f = new();

    public void Dispose() => f.Dispose();

    [Fact]
    public void An_empty_ledger_has_a_signed_head_of_the_empty_tree()
    {
        var head = f.Store.Head();
        Assert.Equal(0, head.TreeSize);
        Assert.Equal(Rfc6962.EmptyRoot, head.RootHash);
        Assert.True(head.IsSignedBy(f.Signer.PublicKey));
        AssertSameHead(head, f.Store.Head()); // signed once, not on every read
    }

    [Fact]
    public void Every_append_returns_a_receipt_that_proves_its_entry_under_a_new_signed_head()
    {
        var receipts = f.RecordMany(13);
        for (var i = 0; i < receipts.Count; i++)
        {
            var r = receipts[i];
            Assert.Equal(i, r.Record.Index);
            Assert.Equal(i + 1, r.Head.TreeSize);
            Assert.Null(r.Problem(f.Signer.PublicKey));
            var entry = r.Record.Parse();
            Assert.Equal((LedgerKinds.JobDispatched, "hub", $"job/{i}"), (entry.Kind, entry.Actor, entry.Subject));
            Assert.True(entry.Signed.IsSignedBy(f.Signer.PublicKey));
        }
        Assert.Equal(receipts[^1].Head.TreeSize, f.Store.Head().TreeSize);
    }

    [Fact]
    public void Stored_roots_and_proofs_equal_those_of_a_tree_rebuilt_from_the_entries()
    {
        var receipts = f.RecordMany(37);
        var tree = MerkleTree.Of(f.Store.Entries(0, 100).Select(e => e.Leaf));
        Assert.Equal(37, tree.Size);
        foreach (var r in receipts)
        {
            var size = r.Head.TreeSize;
            Assert.Equal(tree.Root(size), r.Head.RootHash);
            AssertSameHead(r.Head, f.Store.HeadAt(size));
            for (var i = 0; i < size; i++) Assert.Equal(tree.InclusionProof(i, size), f.Store.InclusionProof(i, size).AuditPath);
            for (var m = 0; m <= size; m++) Assert.Equal(tree.ConsistencyProof(m, size), f.Store.ConsistencyProof(m, size).Path);
        }
    }

    [Fact]
    public void Tree_head_times_never_run_backwards()
    {
        var clock = new SteppingClock(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var store = new LedgerStore(f.Db, f.Signer, clock);
        var first = store.Record(LedgerKinds.RunCreated, "alice", "run/1", []).Head;
        clock.Now -= TimeSpan.FromHours(1);
        var second = store.Record(LedgerKinds.RunCreated, "alice", "run/2", []).Head;
        Assert.Equal(first.Timestamp, second.Timestamp);
        Assert.True(second.IsSignedBy(f.Signer.PublicKey));
    }

    [Fact]
    public void Concurrent_appends_are_serialized_into_one_consistent_tree()
    {
        // A second store instance (as in a second hub process) shares only the database, so SQLite's write lock
        // is all that serializes it with the first; it appends less often because waiting on that lock is slow.
        var other = new LedgerStore(f.Db, f.Signer);
        var receipts = new System.Collections.Concurrent.ConcurrentBag<LedgerReceipt>();
        Parallel.For(0, 200, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            receipts.Add((i % 20 == 0 ? other : f.Store).Record(LedgerKinds.JobExecuted, "hub", $"job/{i}", new JsonObject { ["i"] = i })));

        Assert.Equal(Enumerable.Range(0, 200).Select(i => (long)i), receipts.Select(r => r.Record.Index).Order());
        var head = f.Store.Head();
        Assert.Equal(200, head.TreeSize);
        var tree = MerkleTree.Of(f.Store.Entries(0, 200).Select(e => e.Leaf));
        Assert.Equal(tree.Root(), head.RootHash);
        // Every receipt still holds in the final tree: no append overwrote another's place.
        foreach (var r in receipts)
        {
            Assert.Null(r.Problem(f.Signer.PublicKey));
            Assert.True(MerkleVerifier.VerifyConsistency(r.Head.TreeSize, 200, f.Store.ConsistencyProof(r.Head.TreeSize, 200).Path, r.Head.RootHash, head.RootHash));
        }
    }

    [Fact]
    public void An_append_inside_a_rolled_back_transaction_leaves_no_trace()
    {
        f.RecordMany(3);
        using (var c = f.Db.Open())
        using (var tx = c.BeginTransaction(deferred: false))
        {
            c.Execute("INSERT INTO identities (name, role, token_hash, created_at) VALUES ('x', 'researcher', 'h', 't')", transaction: tx);
            var receipt = f.Store.Record(c, tx, LedgerKinds.KeyAdded, "operator", "identity/x", []);
            Assert.Equal(3, receipt.Record.Index);
            tx.Rollback();
        }
        Assert.Equal(3, f.Store.Head().TreeSize);
        Assert.Equal(3, f.Record(3).Record.Index);

        using (var c = f.Db.Open())
        using (var tx = c.BeginTransaction(deferred: false))
        {
            f.Store.Record(c, tx, LedgerKinds.KeyAdded, "operator", "identity/y", []);
            tx.Commit();
        }
        Assert.Equal(5, f.Store.Head().TreeSize);
    }

    [Fact]
    public void A_store_whose_nodes_no_longer_give_the_signed_root_refuses_to_append()
    {
        f.RecordMany(6);
        using (var c = f.Db.Open()) c.Execute("UPDATE ledger_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 0");
        var e = Assert.Throws<InvalidOperationException>(() => f.Record(6));
        Assert.Contains("damaged", e.Message);
        Assert.Equal(6, f.Store.Head().TreeSize);
    }

    [Fact]
    public void Proof_requests_outside_the_signed_tree_are_refused()
    {
        f.RecordMany(4);
        Assert.Throws<ArgumentException>(() => f.Store.InclusionProof(4, 4));
        Assert.Throws<ArgumentException>(() => f.Store.InclusionProof(0, 5));
        Assert.Throws<ArgumentException>(() => f.Store.ConsistencyProof(3, 5));
        Assert.Throws<ArgumentException>(() => f.Store.ConsistencyProof(4, 3));
        Assert.Null(f.Store.HeadAt(9));
    }

    [Fact]
    public void Migrating_again_keeps_the_ledger()
    {
        f.RecordMany(2);
        f.Db.Migrate();
        new HubDatabase(f.DatabasePath).Migrate();
        Assert.Equal(2, f.Store.Head().TreeSize);
    }

    private static void AssertSameHead(SignedTreeHead expected, SignedTreeHead? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal((expected.TreeSize, expected.Timestamp, expected.KeyId), (actual.TreeSize, actual.Timestamp, actual.KeyId));
        Assert.Equal(expected.RootHash, actual.RootHash);
        Assert.Equal(expected.Signature, actual.Signature);
    }

    private sealed class SteppingClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }
}
