using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Trains.Tests.Commands;

/// <summary>What <c>ledger verify --receipts FILE|DIR</c> reads: exports of <c>station receipts --out</c>, or the station API's answer.</summary>
public sealed class ReceiptFilesTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("ht-receipt-files-").FullName;
    private readonly List<LedgerReceipt> receipts;

    public ReceiptFilesTests()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var tree = new MerkleTree();
        receipts = [];
        for (var i = 0; i < 3; i++)
        {
            var leaf = LedgerEntry.At(i, new LedgerStatement(LedgerKinds.ResultUploaded, "hospital-a", $"job/{i}", new JsonObject(), DateTimeOffset.UtcNow).Sign(key)).ToLeaf();
            tree.AppendLeaf(leaf);
            var at = LedgerTime.Truncate(DateTimeOffset.UtcNow);
            var head = new SignedTreeHead(tree.Size, at, tree.Root(), LedgerSignatures.KeyId(key), LedgerSignatures.Sign(key, SignedTreeHead.SigningBytes(tree.Size, at, tree.Root())));
            receipts.Add(new LedgerReceipt(new LedgerRecord(i, leaf), new InclusionProof(i, tree.Size, tree.InclusionProof(i, tree.Size)), head));
        }
    }

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Exports_and_station_api_answers_are_read_from_files_and_folders()
    {
        var folder = Directory.CreateDirectory(Path.Combine(dir, "kept")).FullName;
        File.WriteAllText(Path.Combine(folder, "a.json"), JsonSerializer.Serialize(receipts.Take(2), ProtocolJson.Api));
        File.WriteAllText(Path.Combine(folder, "b.json"), JsonSerializer.Serialize(
            new[] { new StationReceipt(receipts[2], LedgerKinds.ResultUploaded, "job/2", DateTimeOffset.UtcNow, null) }, ProtocolJson.Api));
        var single = Path.Combine(dir, "one.json");
        File.WriteAllText(single, JsonSerializer.Serialize(receipts[1], ProtocolJson.Api));

        var read = StationAuditCommands.ReadReceipts([folder, single]);

        Assert.Equal([0L, 1L, 2L, 1L], read.Select(r => r.Record.Index));
        Assert.Equal(receipts[2].Record.Leaf, read[2].Record.Leaf);
        Assert.Equal(receipts[2].Proof.AuditPath, read[2].Proof.AuditPath);
        Assert.Equal(receipts[2].Head.Signature, read[2].Head.Signature);
    }

    [Fact]
    public void A_file_without_receipts_or_a_missing_path_is_an_error_naming_it()
    {
        var notReceipts = Path.Combine(dir, "state.json");
        File.WriteAllText(notReceipts, """[{"hub":"http://x","keyId":"00"}]""");
        var e = Assert.Throws<InvalidOperationException>(() => StationAuditCommands.ReadReceipts([notReceipts]));
        Assert.StartsWith($"{notReceipts} holds no ledger receipts", e.Message);
        Assert.Throws<UsageException>(() => StationAuditCommands.ReadReceipts([Path.Combine(dir, "absent.json")]));
    }
}
