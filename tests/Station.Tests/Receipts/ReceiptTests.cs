using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Station.Audit;
using HealthTrain.Station.Hub;
using HealthTrain.Station.Receipts;
using HealthTrain.Station.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.Extensions.Logging.Abstractions;

namespace HealthTrain.Station.Tests.Receipts;

public sealed class ReceiptTests : IDisposable
{
    private const string Me = "hospital-a";
    private readonly string dir = Directory.CreateTempSubdirectory("ht-receipts-").FullName;
    private readonly StationDatabase db;
    private readonly ReceiptStore store;
    private readonly StationAudit audit;
    private readonly TestLedger hub = new();

    public ReceiptTests()
    {
        db = new StationDatabase(Path.Combine(dir, "station.db"));
        db.Migrate();
        store = new ReceiptStore(db);
        audit = new StationAudit(db);
    }

    public void Dispose()
    {
        hub.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public void A_receipt_checks_out_only_when_signed_by_the_pinned_key_proving_its_entry_and_about_this_station()
    {
        var dispatched = hub.Append(LedgerKinds.JobDispatched, "hub", "job/4", new JsonObject { ["station"] = Me });
        var uploaded = hub.Append(LedgerKinds.ResultUploaded, Me, "job/4", new JsonObject { ["digest"] = "sha256:cc" });
        var theirs = hub.Append(LedgerKinds.ResultUploaded, "hospital-b", "job/5");
        var runCreated = hub.Append(LedgerKinds.RunCreated, "hub", "run/2");

        Assert.Null(ReceiptStore.Check(dispatched, hub.PublicKey, Me));
        Assert.Null(ReceiptStore.Check(uploaded, hub.PublicKey, Me));
        Assert.Contains("not this station's", ReceiptStore.Check(theirs, hub.PublicKey, Me));
        Assert.Contains("not this station's", ReceiptStore.Check(runCreated, hub.PublicKey, Me));

        using var other = new TestLedger();
        Assert.Equal("its tree head is not signed by the hub key", ReceiptStore.Check(uploaded, other.PublicKey, Me));
        var leaf = (byte[])uploaded.Record.Leaf.Clone();
        leaf[^3] ^= 0x01;
        Assert.Equal("its audit path does not lead from the entry to the tree head's root",
            ReceiptStore.Check(uploaded with { Record = uploaded.Record with { Leaf = leaf } }, hub.PublicKey, Me));
    }

    [Fact]
    public void A_kept_receipt_is_never_replaced_and_other_bytes_for_its_entry_are_reported()
    {
        var receipt = hub.Append(LedgerKinds.ResultUploaded, Me, "job/4", new JsonObject { ["digest"] = "sha256:cc" });
        Assert.Equal(-1, store.LastIndex());
        Assert.Null(store.Add(receipt, null));
        Assert.Null(store.Add(receipt, null)); // the same receipt again: nothing to say
        Assert.Equal(0, store.LastIndex());

        var forged = receipt with { Record = receipt.Record with { Leaf = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(receipt.Record.Leaf).Replace("sha256:cc", "sha256:dd")) } };
        Assert.Equal("the hub now serves entry 0 with other bytes than in the receipt kept since tree size 1", store.Add(forged, null));

        var kept = store.List().Single();
        Assert.Equal(receipt.Record.Leaf, kept.Receipt.Record.Leaf);
        Assert.Equal((LedgerKinds.ResultUploaded, "job/4", (string?)null), (kept.Kind, kept.Subject, kept.Problem));
        Assert.Null(kept.Receipt.Problem(hub.PublicKey));
    }

    [Fact]
    public void The_first_pinned_key_stays_pinned()
    {
        using var other = new TestLedger();
        Assert.Null(store.Pinned());
        Assert.Equal(hub.KeyId, store.Pin(hub.PublicKeyPem, "hub, first use").KeyId);
        var again = store.Pin(other.PublicKeyPem, "hub, first use");
        Assert.Equal(hub.KeyId, again.KeyId);
        Assert.Equal(hub.PublicKey, again.PublicKey());
    }

    [Fact]
    public async Task The_collector_pins_the_hubs_key_once_keeps_its_receipts_and_audits_the_ones_that_do_not_check_out()
    {
        var served = new List<LedgerReceipt>
        {
            hub.Append(LedgerKinds.JobDispatched, "hub", "job/4", new JsonObject { ["station"] = Me }),
            hub.Append(LedgerKinds.ApprovalRecorded, Me, "job/4", new JsonObject { ["decision"] = "approved" }),
        };
        var fakeHub = new FakeHub(hub.KeyId, hub.PublicKeyPem, served, hub.ConsistencyProof);
        var collector = Collector(fakeHub, new StationOptions { Name = Me, HubUrl = "http://hub.invalid", Token = "t" });

        Assert.Equal(2, await collector.CollectAsync(default));
        Assert.Equal([0L, 1L], store.List().Select(r => r.Receipt.Record.Index));
        Assert.Equal("hub, first use", store.Pinned()!.Source);

        // The hub's next receipt is for another station's entry; it is kept as evidence, flagged, and audited.
        served.Add(hub.Append(LedgerKinds.ResultUploaded, "hospital-b", "job/9"));
        served.Add(hub.Append(LedgerKinds.ResultUploaded, Me, "job/4", new JsonObject { ["digest"] = "sha256:cc" }));
        Assert.Equal(1, await collector.CollectAsync(default));
        Assert.Equal(["after=-1", "after=1"], fakeHub.Asked);
        Assert.Equal(1, fakeHub.KeyRequests);
        var flagged = store.List().Single(r => r.Receipt.Record.Index == 2);
        Assert.Contains("not this station's", flagged.Problem);
        var refused = audit.List(new AuditFilter(Kind: AuditKinds.ReceiptRefused)).Single();
        Assert.Equal(2, refused.Details["entry"]!.GetValue<long>());

        Assert.Equal(0, await collector.CollectAsync(default));
    }

    [Fact]
    public async Task With_a_configured_ledger_key_receipts_signed_by_another_key_are_refused()
    {
        using var configured = new TestLedger();
        var keyFile = Path.Combine(dir, "ledger-key.pub.pem");
        File.WriteAllText(keyFile, configured.PublicKeyPem);
        var fakeHub = new FakeHub(hub.KeyId, hub.PublicKeyPem, [hub.Append(LedgerKinds.ResultUploaded, Me, "job/1")], hub.ConsistencyProof);
        var options = new StationOptions { Name = Me, HubUrl = "http://hub.invalid", Token = "t" };
        options.Trust.LedgerKey = keyFile;

        Assert.Equal(0, await Collector(fakeHub, options).CollectAsync(default));
        Assert.Equal(0, fakeHub.KeyRequests);
        Assert.Equal(configured.KeyId, store.Pinned()!.KeyId);
        Assert.Equal("its tree head is not signed by the hub key", store.List().Single().Problem);
    }

    [Fact]
    public async Task A_hub_that_rebuilt_its_ledger_is_caught_at_the_stations_next_receipt()
    {
        var served = new List<LedgerReceipt>
        {
            hub.Append(LedgerKinds.JobDispatched, "hub", "job/4"),
            hub.Append(LedgerKinds.ResultUploaded, Me, "job/4", new JsonObject { ["digest"] = "sha256:cc" }),
        };
        var fakeHub = new FakeHub(hub.KeyId, hub.PublicKeyPem, served, hub.ConsistencyProof);
        var collector = Collector(fakeHub, new StationOptions { Name = Me, HubUrl = "http://hub.invalid", Token = "t" });
        Assert.Equal(2, await collector.CollectAsync(default));

        // The hub rebuilds its ledger with its own key, entry 1 naming another digest, and carries on.
        using var forged = new TestLedger(hub.Key);
        forged.Append(LedgerKinds.JobDispatched, "hub", "job/4");
        forged.Append(LedgerKinds.ResultUploaded, Me, "job/4", new JsonObject { ["digest"] = "sha256:dd" });
        var next = forged.Append(LedgerKinds.ResultUploaded, Me, "job/5", new JsonObject { ["digest"] = "sha256:ee" });
        Assert.Null(ReceiptStore.Check(next, hub.PublicKey, Me)); // sound on its own
        fakeHub.Receipts = [.. served, next];
        fakeHub.Consistency = forged.ConsistencyProof;

        Assert.Equal(0, await collector.CollectAsync(default));
        Assert.Equal("its tree head (size 3) does not extend the head of size 2 in a receipt kept before: the hub rewrote its ledger",
            store.List().Single(r => r.Receipt.Record.Index == 2).Problem);
        Assert.Equal(2, audit.List(new AuditFilter(Kind: AuditKinds.ReceiptRefused)).Single().Details["entry"]!.GetValue<long>());

        // An honest continuation extends the last sound head.
        fakeHub.Receipts = [.. served, next, hub.Append(LedgerKinds.ResultUploaded, Me, "job/5"), hub.Append(LedgerKinds.JobDispatched, "hub", "job/6")];
        fakeHub.Consistency = hub.ConsistencyProof;
        Assert.Equal(1, await collector.CollectAsync(default));
    }

    private ReceiptCollector Collector(FakeHub fakeHub, StationOptions options) =>
        new(new HubClient(new HttpClient(fakeHub), options), store, audit, options, NullLogger<ReceiptCollector>.Instance);

    /// <summary>The hub's two endpoints the collector uses, serving receipts after the asked index.</summary>
    private sealed class FakeHub(string keyId, string pem, List<LedgerReceipt> receipts, Func<long, long, ConsistencyProof> consistency) : HttpMessageHandler
    {
        public List<string> Asked { get; } = [];
        public List<LedgerReceipt> Receipts { get; set; } = receipts;
        public Func<long, long, ConsistencyProof> Consistency { get; set; } = consistency;
        public int KeyRequests { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            object body;
            if (request.RequestUri!.AbsolutePath == "/api/ledger/key")
            {
                KeyRequests++;
                body = new LedgerKey(keyId, pem);
            }
            else if (request.RequestUri.AbsolutePath == "/api/station/receipts")
            {
                var query = System.Web.HttpUtility.ParseQueryString(request.RequestUri.Query);
                var after = long.Parse(query["after"]!, System.Globalization.CultureInfo.InvariantCulture);
                Asked.Add($"after={after}");
                body = Receipts.Where(r => r.Record.Index > after).ToList();
            }
            else if (request.RequestUri.AbsolutePath == "/api/ledger/proof/consistency")
            {
                var query = System.Web.HttpUtility.ParseQueryString(request.RequestUri.Query);
                body = Consistency(long.Parse(query["from"]!, System.Globalization.CultureInfo.InvariantCulture), long.Parse(query["to"]!, System.Globalization.CultureInfo.InvariantCulture));
            }
            else return Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound));
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent(JsonSerializer.Serialize(body, ProtocolJson.Api), Encoding.UTF8, "application/json"),
            });
        }
    }
}
