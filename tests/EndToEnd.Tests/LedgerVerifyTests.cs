using System.Text.RegularExpressions;
using HealthTrain.Cli;
using HealthTrain.Cli.Commands;
using HealthTrain.Cli.Demo;
using HealthTrain.Cli.Hub;
using HealthTrain.Hub.Ledger;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.Data.Sqlite;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>
/// <c>healthtrain ledger verify</c> against a hub whose database is tampered with directly. Each test runs its own small
/// federation (one station at most): the shared fixture's hub serves the other tests and must stay sound; the fixture only lends its built images.
/// </summary>
[Collection(FederationCollection.Name)]
public sealed partial class LedgerVerifyTests(FederationFixture f)
{
    private sealed class Ledgered(LocalFederation federation, HubApiClient researcher, string root, string database) : IAsyncDisposable
    {
        public LocalFederation Federation { get; } = federation;
        public HubApiClient Researcher { get; } = researcher;
        public string Root { get; } = root;
        public string Database { get; } = database;
        public string StatePath => Path.Combine(Root, "ledger-state.json");
        public long TrainId { get; set; }

        public async Task AddRunsAsync(int count)
        {
            for (var i = 0; i < count; i++) await Researcher.StartRunAsync(new RunRequest(TrainId, ["absent-station"]));
        }

        public async Task<(int Code, string Output)> VerifyAsync(string? statePath = null, params string[] extra)
        {
            var text = new StringWriter();
            var code = await LedgerCommands.RunAsync("verify", new CliArgs(["verify", "--hub", Federation.HubUrl.ToString(),
                "--token", Researcher.Connection.Token, "--state", statePath ?? StatePath, .. extra]), text);
            return (code, text.ToString());
        }

        /// <summary>
        /// What a hub holding its own ledger key can do: rebuild the whole ledger with entry <paramref name="index"/> rewritten,
        /// every tree node recomputed and every head signed again, and put it in place of the real one in its database.
        /// </summary>
        public void Forge(long index, Func<LedgerEntry, LedgerStatement> rewrite)
        {
            var signer = LedgerSigner.LoadOrCreate(Path.Combine(Root, "hub", "ledger-key.pem"));
            var forgedPath = Path.Combine(Root, "forged", "hub.db");
            var forged = new HubDatabase(forgedPath);
            forged.Migrate();
            var store = new LedgerStore(forged, signer);
            var leaves = new List<byte[]>();
            using (var c = new SqliteConnection($"Data Source={Database};Pooling=False"))
            {
                c.Open();
                using var command = c.CreateCommand();
                command.CommandText = "SELECT leaf FROM ledger_entries ORDER BY idx";
                using var reader = command.ExecuteReader();
                while (reader.Read()) leaves.Add((byte[])reader[0]);
            }
            foreach (var leaf in leaves)
            {
                var entry = LedgerEntry.Parse(leaf);
                store.Append(entry.Index == index ? signer.SignStatement(rewrite(entry)) : entry.Signed);
            }
            SqliteConnection.ClearAllPools();
            Sql("""
                ATTACH DATABASE $forged AS forged;
                BEGIN IMMEDIATE;
                DELETE FROM ledger_entries; INSERT INTO ledger_entries SELECT * FROM forged.ledger_entries;
                DELETE FROM ledger_nodes; INSERT INTO ledger_nodes SELECT * FROM forged.ledger_nodes;
                DELETE FROM ledger_heads; INSERT INTO ledger_heads SELECT * FROM forged.ledger_heads;
                COMMIT;
                DETACH DATABASE forged;
                """, ("$forged", forgedPath));
        }

        public void Sql(string sql, params (string Name, object Value)[] parameters)
        {
            using var c = new SqliteConnection($"Data Source={Database};Pooling=False");
            c.Open();
            using var command = c.CreateCommand();
            command.CommandText = sql;
            foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
            command.ExecuteNonQuery();
        }

        public byte[] Leaf(long index)
        {
            using var c = new SqliteConnection($"Data Source={Database};Pooling=False");
            c.Open();
            using var command = c.CreateCommand();
            command.CommandText = "SELECT leaf FROM ledger_entries WHERE idx = $i";
            command.Parameters.AddWithValue("$i", index);
            return (byte[])command.ExecuteScalar()!;
        }

        public void SetLeaf(long index, byte[] leaf) => Sql("UPDATE ledger_entries SET leaf = $l WHERE idx = $i", ("$l", leaf), ("$i", index));

        public async ValueTask DisposeAsync()
        {
            Researcher.Dispose();
            await Federation.DisposeAsync();
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>A fresh federation whose ledger holds a key registration, a train submission, check and publication (entries 0-3) and <paramref name="runs"/> run creations.</summary>
    private async Task<Ledgered> StartAsync(int runs)
    {
        var root = Directory.CreateTempSubdirectory("ht-ledger-e2e-").FullName;
        var federation = await LocalFederation.StartAsync(new FederationOptions(root)
        {
            // Shared between these tests, so the train's layers are uploaded once.
            RegistryStorageDir = Path.Combine(f.Root, "ledger-test-registry"),
        });
        var alice = await federation.AddResearcherAsync("alice");
        await federation.Operator.CreateIdentityAsync("absent-station", Roles.Station);
        var ledgered = new Ledgered(federation, alice, root, Path.Combine(root, "hub", "hub.db"));
        Assert.True(File.Exists(ledgered.Database), $"no hub database at {ledgered.Database}");
        ledgered.TrainId = (await federation.Publisher(f.Docker, alice).PushAsync(f.Misbehaving.Reference)).Id;
        await ledgered.AddRunsAsync(runs);
        return ledgered;
    }

    [GeneratedRegex(@"entry (\d+):")]
    private static partial Regex NamedEntry();

    private static long[] Named(string output) => [.. NamedEntry().Matches(output).Select(m => long.Parse(m.Groups[1].Value)).Distinct().Order()];

    [Fact]
    public async Task Verify_passes_pins_the_key_and_names_changed_deleted_and_swapped_entries()
    {
        await using var fed = await StartAsync(runs: 5);

        var (code, output) = await fed.VerifyAsync();
        Assert.True(code == 0, output);
        Assert.Matches(@"^ledger OK: 9 entries, root [0-9a-f]{64}", output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(fed.StatePath));
        var state = File.ReadAllText(fed.StatePath);

        var show = new StringWriter();
        Assert.Equal(0, await LedgerCommands.RunAsync("show", new CliArgs(["show", "--hub", fed.Federation.HubUrl.ToString(),
            "--token", fed.Researcher.Connection.Token, "--from", "4", "--count", "3"]), show));
        var lines = show.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^\d+\s+\S+Z\s+run\.created\s+alice\s+run/\d+$", l));

        // One byte flipped inside entry 2's stored leaf.
        var original = fed.Leaf(2);
        var flipped = (byte[])original.Clone();
        flipped[flipped.Length / 2] ^= 0x01;
        fed.SetLeaf(2, flipped);
        (code, output) = await fed.VerifyAsync();
        Assert.True(code == 1, output);
        Assert.Equal([2L], Named(output));
        Assert.Equal(state, File.ReadAllText(fed.StatePath));
        fed.SetLeaf(2, original);
        Assert.True((await fed.VerifyAsync()).Code == 0);

        // Entry 4's row deleted.
        var deleted = fed.Leaf(4);
        fed.Sql("DELETE FROM ledger_entries WHERE idx = 4");
        (code, output) = await fed.VerifyAsync();
        Assert.True(code == 1, output);
        Assert.Equal([4L], Named(output));
        Assert.Contains("does not serve this entry", output);
        Assert.Equal(state, File.ReadAllText(fed.StatePath));
        fed.Sql("INSERT INTO ledger_entries (idx, leaf, leaf_hash) VALUES (4, $l, $h)", ("$l", deleted),
            ("$h", HealthTrain.Trains.Protocol.Ledger.Rfc6962.LeafHash(deleted)));
        Assert.True((await fed.VerifyAsync()).Code == 0);

        // Entries 1 and 3 swapped.
        var (one, three) = (fed.Leaf(1), fed.Leaf(3));
        fed.SetLeaf(1, three);
        fed.SetLeaf(3, one);
        (code, output) = await fed.VerifyAsync();
        Assert.True(code == 1, output);
        Assert.Equal([1L, 3L], Named(output));
        fed.SetLeaf(1, one);
        fed.SetLeaf(3, three);
        Assert.True((await fed.VerifyAsync()).Code == 0);

        // A hub that now serves another ledger key is refused outright.
        File.WriteAllText(fed.StatePath, state.Replace(Regex.Match(state, "\"keyId\":\"([0-9a-f]{64})\"").Groups[1].Value, new string('0', 64)));
        (code, output) = await fed.VerifyAsync();
        Assert.True(code == 1, output);
        Assert.Contains("ledger key changed", output);
    }

    [Fact]
    public async Task Verify_with_saved_state_reports_history_rewritten_after_the_last_check()
    {
        await using var fed = await StartAsync(runs: 4);
        var (code, output) = await fed.VerifyAsync();
        Assert.True(code == 0, output);
        Assert.StartsWith("ledger OK: 8 entries", output);

        // The hub grows honestly: a later check proves it only appended.
        await fed.AddRunsAsync(1);
        (code, output) = await fed.VerifyAsync();
        Assert.True(code == 0, output);
        Assert.StartsWith("ledger OK: 9 entries", output);
        Assert.Contains("extends the head of 8 entries", output);
        var state = File.ReadAllText(fed.StatePath);

        // Cut entries 7 and 8 (rows, tree nodes and heads), so the hub appends new entries in their place and re-signs.
        const long keep = 7;
        fed.Sql("DELETE FROM ledger_entries WHERE idx >= $k", ("$k", keep));
        fed.Sql("DELETE FROM ledger_nodes WHERE (idx + 1) * (1 << level) > $k", ("$k", keep));
        fed.Sql("DELETE FROM ledger_heads WHERE tree_size > $k", ("$k", keep));
        await fed.AddRunsAsync(3);

        // A client without history sees a sound ledger of 10 entries...
        (code, output) = await fed.VerifyAsync(Path.Combine(fed.Root, "fresh-state.json"));
        Assert.True(code == 0, output);
        Assert.StartsWith("ledger OK: 10 entries", output);
        // ...but the saved head of 9 entries is not a prefix of it.
        (code, output) = await fed.VerifyAsync();
        Assert.True(code == 1, output);
        Assert.Contains("history was rewritten", output);
        Assert.Contains("size 9", output);
        Assert.Equal(state, File.ReadAllText(fed.StatePath));
    }

    [Fact]
    public async Task A_stations_receipts_catch_a_hub_that_rewrote_one_of_its_entries_and_re_signed_the_ledger()
    {
        await using var fed = await StartAsync(runs: 0);
        var station = await fed.Federation.AddStationAsync("receipt-clinic", Path.Combine(f.Root, "tiny-clinic-data"));
        var stationUrl = $"http://{station.StatusUrl.Authority}";
        var token = LocalFederation.OperatorTokenOf(station);
        var run = await fed.Researcher.StartRunAsync(new RunRequest(fed.TrainId, ["receipt-clinic"]));
        var done = await fed.Researcher.WaitForRunAsync(run.Id, null, TimeSpan.FromMinutes(3));
        Assert.True(done.State == RunStates.Completed, string.Join("; ", done.Jobs.Select(j => $"{j.State} {j.Error}")));
        var jobId = Assert.Single(done.Jobs).Id;

        // The station collects its receipts right after its reports.
        using var http = StationConnection.Connect(new Uri(stationUrl), token);
        List<StationReceipt> kept = [];
        var deadline = DateTimeOffset.UtcNow.AddSeconds(30);
        while (!(kept = await StationConnection.ReceiptsAsync(http)).Any(r => r.Kind == LedgerKinds.ResultUploaded) && DateTimeOffset.UtcNow < deadline)
            await Task.Delay(250);
        Assert.Equal([LedgerKinds.JobDispatched, LedgerKinds.ApprovalRecorded, LedgerKinds.ResultUploaded], kept.Select(r => r.Kind));
        Assert.All(kept, r => Assert.Equal($"job/{jobId}", r.Subject));
        Assert.All(kept, r => Assert.Null(r.Problem));
        var result = kept.Single(r => r.Kind == LedgerKinds.ResultUploaded).Receipt;
        var digest = result.Record.Parse().Payload["digest"]!.GetValue<string>();

        // The station's own audit log says what it gave the train and what it let out: the digest the hub recorded.
        var auditText = new StringWriter();
        Assert.Equal(0, await StationAuditCommands.AuditAsync(new CliArgs(["audit", "--station", stationUrl, "--token", token, "--job", jobId.ToString(), "--json"], "json"), auditText));
        var audit = System.Text.Json.JsonSerializer.Deserialize<List<StationAuditRecord>>(auditText.ToString(), ProtocolJson.Api)!;
        Assert.Contains(audit, a => a.Kind == "view.materialized" && a.Details["rows"]!.GetValue<long>() > 0);
        Assert.Equal(digest, audit.Single(a => a.Kind == "result.released").Details["digest"]!.GetValue<string>());

        // Exported for later, and checked against the hub now: all sound.
        var receiptsFile = Path.Combine(fed.Root, "receipt-clinic.receipts.json");
        var export = new StringWriter();
        Assert.Equal(0, await StationAuditCommands.ReceiptsAsync(new CliArgs(["receipts", "--station", stationUrl, "--token", token, "--out", receiptsFile]), export));
        Assert.StartsWith("3 receipt(s) written", export.ToString());
        var (code, output) = await fed.VerifyAsync(null, "--receipts", receiptsFile);
        Assert.True(code == 0, output);
        Assert.Contains("3 receipt(s) match", output);

        // The hub rewrites the station's result digest in its SQLite database, rebuilds the tree and re-signs every head.
        fed.Forge(result.Record.Index, e => new LedgerStatement(e.Kind, e.Actor, e.Subject, new System.Text.Json.Nodes.JsonObject { ["digest"] = "sha256:" + new string('0', 64) }, e.Timestamp));

        // A client with no history and no receipts finds the forged ledger sound...
        (code, output) = await fed.VerifyAsync(Path.Combine(fed.Root, "fresh-1.json"));
        Assert.True(code == 0, output);
        // ...the station's receipts, exported or straight from the station, name the entry.
        (code, output) = await fed.VerifyAsync(Path.Combine(fed.Root, "fresh-2.json"), "--receipts", receiptsFile);
        Assert.True(code == 1, output);
        Assert.Equal([result.Record.Index], Named(output));
        Assert.Contains("other bytes than the ones in its receipt", output);
        (code, output) = await fed.VerifyAsync(Path.Combine(fed.Root, "fresh-3.json"), "--station", stationUrl, "--station-token", token);
        Assert.True(code == 1, output);
        Assert.Equal([result.Record.Index], Named(output));
        // And the client that checked before the forgery sees history rewritten from that entry on.
        (code, output) = await fed.VerifyAsync();
        Assert.True(code == 1, output);
        Assert.Contains("history was rewritten", output);
    }
}
