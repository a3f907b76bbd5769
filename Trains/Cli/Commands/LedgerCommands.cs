using System.Globalization;
using System.Text.Json;
using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Cli.Commands;

/// <summary>
/// <c>healthtrain ledger verify|show</c>: audits the hub's provenance ledger from the client side. <c>verify</c> pins
/// the hub's ledger key and the last tree head it checked in a state file, so a later run also proves the ledger only
/// grew since.
/// </summary>
public static class LedgerCommands
{
    /// <summary>What <c>ledger verify</c> remembers between runs: the pinned hub key and the last head it found sound.</summary>
    public sealed record LedgerState(string Hub, string KeyId, string PublicKeyPem, SignedTreeHead? Head);

    public static async Task<int> RunAsync(string verb, CliArgs args, TextWriter output)
    {
        switch (verb)
        {
            case "verify":
            {
                var connection = HubProfile.Resolve(args);
                var statePath = args.Option("state") ?? DefaultStatePath(connection.Url);
                var receipts = StationAuditCommands.ReadReceipts(args.Options("receipts"));
                using var station = args.Option("station") is not null ? StationConnection.Connect(args, "station", "station-token") : null;
                args.RejectUnknown();
                if (station is not null)
                {
                    var kept = await StationConnection.ReceiptsAsync(station);
                    receipts.AddRange(kept.Select(r => r.Receipt));
                    output.WriteLine($"{kept.Count} receipt(s) from the station at {station.BaseAddress}");
                }
                using var hub = new HubApiClient(connection);
                return await VerifyAsync(hub, statePath, output, receipts);
            }
            case "show":
            {
                var from = long.Parse(args.Option("from") ?? "0", NumberStyles.None, CultureInfo.InvariantCulture);
                var count = long.Parse(args.Option("count") ?? "100", NumberStyles.None, CultureInfo.InvariantCulture);
                using var hub = new HubApiClient(HubProfile.Resolve(args));
                args.RejectUnknown();
                return await ShowAsync(hub, from, count, output);
            }
            default:
                throw new UsageException($"unknown command 'ledger {verb}'; try: ledger verify|show");
        }
    }

    /// <summary>~/.healthtrain/ledger-HOST_PORT.json: one state per hub.</summary>
    public static string DefaultStatePath(Uri hub) =>
        Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".healthtrain",
            $"ledger-{string.Concat(hub.Host.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '_'))}_{hub.Port}.json");

    /// <summary>
    /// Checks the hub's whole log against the pinned key, the last head this client found sound and the
    /// <paramref name="receipts"/> kept by stations (or anyone): an entry changed, removed or moved since its receipt is named.
    /// </summary>
    public static async Task<int> VerifyAsync(HubApiClient hub, string statePath, TextWriter output, IReadOnlyList<LedgerReceipt>? receipts = null, CancellationToken ct = default)
    {
        var state = File.Exists(statePath)
            ? JsonSerializer.Deserialize<LedgerState>(await File.ReadAllTextAsync(statePath, ct), ProtocolJson.Api)
              ?? throw new InvalidOperationException($"the ledger state {statePath} is empty")
            : null;

        var key = await hub.GetLedgerKeyAsync(ct);
        var publicKey = LedgerSignatures.PublicKeyFromPem(key.PublicKeyPem);
        var keyId = LedgerSignatures.KeyId(publicKey);
        if (keyId != key.KeyId)
        {
            output.WriteLine($"ledger NOT OK: the hub names its key {key.KeyId}, but the key it serves is {keyId}");
            return 1;
        }
        if (state is not null && state.KeyId != keyId)
        {
            output.WriteLine($"ledger NOT OK: the hub's ledger key changed from {state.KeyId} (pinned in {statePath}) to {keyId}; "
                + "if the operator really replaced it, check with them and delete the state file");
            return 1;
        }
        var pinned = state is null ? publicKey : LedgerSignatures.PublicKeyFromPem(state.PublicKeyPem);

        var latest = await hub.GetLedgerHeadAsync(ct);
        var entries = new List<LedgerRecord>();
        while (entries.Count < latest.TreeSize)
        {
            var want = (int)Math.Min(1000, latest.TreeSize - entries.Count);
            var page = await hub.GetLedgerEntriesAsync(entries.Count == 0 ? 0 : entries[^1].Index + 1, want, ct);
            if (page.Count == 0) break;
            entries.AddRange(page);
            // A hub that skips rows still ends up here: stop once the served indexes reach the head's size.
            if (entries[^1].Index + 1 >= latest.TreeSize) break;
        }

        var trusted = state?.Head;
        ConsistencyProof? consistency = null;
        if (trusted is not null && trusted.TreeSize < latest.TreeSize)
            consistency = await hub.GetConsistencyProofAsync(trusted.TreeSize, latest.TreeSize, ct);

        var input = new LedgerAuditInput(pinned, latest)
        {
            Trusted = trusted,
            Consistency = consistency,
            EntriesFrom = 0,
            EntriesTo = latest.TreeSize,
            Entries = entries,
            Receipts = receipts ?? [],
            // The hub signs the statements it records with its ledger key; any other key is unknown to this client.
            ActorKeys = id => id == keyId ? pinned : null,
        };
        var verdict = LedgerVerifier.Verify(input);
        if (!verdict.Ok && latest.IsSignedBy(pinned))
        {
            // Pin down which entries the latest head does not commit to: an inclusion proof for each served entry.
            var proofs = new List<InclusionProof>();
            foreach (var record in entries.Where(r => r.Index >= 0 && r.Index < latest.TreeSize).DistinctBy(r => r.Index))
                proofs.Add(await hub.GetInclusionProofAsync(record.Index, latest.TreeSize, ct));
            verdict = LedgerVerifier.Verify(input with { Proofs = proofs });
        }

        if (!verdict.Ok)
        {
            output.WriteLine($"ledger NOT OK: {verdict.Findings.Count} finding(s) in the hub's ledger of {latest.TreeSize} entries"
                + (verdict.BadEntries.Count > 0 ? $" (entries {string.Join(", ", verdict.BadEntries)})" : ""));
            foreach (var finding in verdict.Findings) output.WriteLine($"  {finding}");
            return 1;
        }

        var pem = state?.PublicKeyPem ?? key.PublicKeyPem;
        WriteState(statePath, new LedgerState(hub.Connection.Url.ToString(), keyId, pem, latest));
        output.WriteLine($"ledger OK: {latest.TreeSize} entries, root {Convert.ToHexStringLower(latest.RootHash)}"
            + (trusted is null ? $" (key {keyId} pinned)" : $" (extends the head of {trusted.TreeSize} entries checked before)")
            + (receipts is { Count: > 0 } ? $"; {receipts.Count} receipt(s) match" : ""));
        return 0;
    }

    public static async Task<int> ShowAsync(HubApiClient hub, long from, long count, TextWriter output, CancellationToken ct = default)
    {
        var next = from;
        var end = from + count;
        while (next < end)
        {
            var page = await hub.GetLedgerEntriesAsync(next, (int)Math.Min(1000, end - next), ct);
            if (page.Count == 0) break;
            foreach (var record in page)
            {
                if (LedgerEntry.TryParse(record.Leaf, out var entry, out var error))
                    output.WriteLine($"{record.Index,6}  {LedgerTime.ToText(entry!.Timestamp)}  {entry.Kind,-18} {entry.Actor,-20} {entry.Subject}");
                else
                    output.WriteLine($"{record.Index,6}  (malformed: {error})");
            }
            next = page[^1].Index + 1;
        }
        return 0;
    }

    private static void WriteState(string path, LedgerState state)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, new FileStreamOptions
               { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        using (var writer = new StreamWriter(file))
            writer.Write(JsonSerializer.Serialize(state, ProtocolJson.Api));
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, path, overwrite: true);
    }
}
