using HealthTrain.Cli.Output;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;
using Spectre.Console;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain keys new</c>: cosign-compatible ECDSA P-256 signing keys for trains.</summary>
public static class KeyCommands
{
    public static Task<int> RunAsync(CliArgs args, TextWriter output, IAnsiConsole? terminal = null) => args.Required(0, "a keys command: new|register|list|revoke|hub") switch
    {
        "new" => NewAsync(args, output),
        "register" or "list" or "revoke" or "hub" => HubKeysAsync(args, output, terminal),
        var verb => throw new UsageException($"unknown command 'keys {verb}'; try: keys new|register|list|revoke|hub"),
    };

    /// <summary>
    /// <c>keys register PUB.pem</c>, <c>keys list</c>, <c>keys revoke KEYID</c> (at the hub: signatures count as yours only
    /// by a registered key) and <c>keys hub [--out DIR]</c> (the hub's public keys, for stations and auditors to pin).
    /// </summary>
    private static async Task<int> HubKeysAsync(CliArgs args, TextWriter output, IAnsiConsole? terminal)
    {
        var verb = args.Positional[0];
        var argument = verb is "register" or "revoke" ? args.Required(1, verb == "register" ? "the public key file (PATH.pub from keys new)" : "the key id (see keys list)") : null;
        var outDir = verb == "hub" ? args.Option("out") : null;
        using var hub = new Hub.HubApiClient(HubProfile.Resolve(args));
        args.RejectUnknown();
        switch (verb)
        {
            case "register":
            {
                var pem = File.ReadAllText(argument!);
                if (pem.Contains("PRIVATE KEY", StringComparison.Ordinal))
                    throw new UsageException($"{argument} holds a private key; register the public key (PATH.pub) — private keys never leave their owner");
                var key = await hub.RegisterKeyAsync(pem);
                output.WriteLine($"registered key {key.KeyId} for {key.Owner}");
                return 0;
            }
            case "revoke":
            {
                var key = await hub.RevokeKeyAsync(argument!);
                output.WriteLine($"revoked key {key.KeyId} of {key.Owner} at {key.RevokedAt:yyyy-MM-dd HH:mm:ss}");
                return 0;
            }
            case "list":
                KeyList(await hub.ListKeysAsync()).Write(output, terminal);
                return 0;
            default:
            {
                var keys = await hub.GetHubKeysAsync();
                output.WriteLine($"publication key: {keys.PublicationKeyId}");
                output.WriteLine($"ledger key:      {keys.LedgerKeyId}");
                if (outDir is not null)
                {
                    Directory.CreateDirectory(outDir);
                    File.WriteAllText(Path.Combine(outDir, "hub-publication.pub"), keys.PublicationKeyPem);
                    File.WriteAllText(Path.Combine(outDir, "hub-ledger.pub"), keys.LedgerKeyPem);
                    output.WriteLine($"written to {Path.Combine(outDir, "hub-publication.pub")} and hub-ledger.pub; compare the ids with the hub operator before trusting them");
                }
                return 0;
            }
        }
    }

    /// <summary>The signing keys as <c>keys list</c> shows them.</summary>
    public static TextTable KeyList(IEnumerable<KeyInfo> keys)
    {
        var table = new TextTable(
        [
            new TextColumn("key id"),
            new TextColumn("owner") { Before = "  ", Align = -16 },
            new TextColumn("added") { Before = " added " },
            new TextColumn("revoked") { Before = "  REVOKED ", OmitEmpty = true, Style = _ => "red" },
        ]);
        foreach (var key in keys)
            table.Add(key.KeyId, key.Owner, $"{key.AddedAt:yyyy-MM-dd HH:mm}", key.RevokedAt is null ? "" : $"{key.RevokedAt:yyyy-MM-dd HH:mm}");
        return table;
    }

    private static Task<int> NewAsync(CliArgs args, TextWriter output)
    {
        var outPath = args.Option("out") ?? throw new UsageException("--out PATH is required: where to write the private key (the public key goes to PATH.pub)");
        var passphrase = PassphraseFrom(args);
        args.RejectUnknown();
        if (args.Positional.Count > 1) throw new UsageException($"unexpected argument '{args.Positional[1]}'; the key's path goes after --out");

        var privatePath = Path.GetFullPath(outPath);
        var publicPath = privatePath + ".pub";
        // Check both before writing either: never leave a private key without its public half, nor replace a key.
        foreach (var path in new[] { privatePath, publicPath })
            if (Path.Exists(path)) throw new IOException($"{path} already exists; refusing to overwrite a key");
        var dir = Path.GetDirectoryName(privatePath)!;
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"the folder {dir} does not exist");

        using var key = SigningKey.Generate();
        key.Save(privatePath, passphrase);
        try
        {
            using var file = new FileStream(publicPath, FileMode.CreateNew, FileAccess.Write);
            using var writer = new StreamWriter(file);
            writer.Write(key.PublicKey.Pem);
        }
        catch
        {
            File.Delete(privatePath);
            throw;
        }
        output.WriteLine($"private key: {privatePath} ({(passphrase is null ? "unencrypted, mode 0600" : "encrypted with the passphrase, mode 0600")})");
        output.WriteLine($"public key:  {publicPath}");
        output.WriteLine($"key id:      {key.KeyId}");
        return Task.FromResult(0);
    }

    /// <summary>
    /// The passphrase from the environment variable <c>--passphrase-env</c> names, or null without the option.
    /// The passphrase itself is never taken from the command line, where other users and shell history would see it.
    /// </summary>
    public static string? PassphraseFrom(CliArgs args)
    {
        if (args.Option("passphrase") is not null)
            throw new UsageException("a passphrase is never taken on the command line; put it in an environment variable and pass --passphrase-env VAR");
        var variable = args.Option("passphrase-env");
        if (variable is null) return null;
        var value = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(value)) throw new UsageException($"--passphrase-env names {variable}, which is not set or empty");
        return value;
    }
}
