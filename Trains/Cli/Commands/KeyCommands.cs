using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain keys new</c>: cosign-compatible ECDSA P-256 signing keys for trains.</summary>
public static class KeyCommands
{
    public static Task<int> RunAsync(CliArgs args, TextWriter output)
    {
        var verb = args.Required(0, "a keys command: new");
        if (verb != "new") throw new UsageException($"unknown command 'keys {verb}'; try: keys new --out PATH [--passphrase-env VAR]");
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
