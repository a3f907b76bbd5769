using HealthTrain.Cli.Hub;

namespace HealthTrain.Cli.Commands;

/// <summary><c>healthtrain identity|station|login|whoami</c>.</summary>
public static class IdentityCommands
{
    public static async Task<int> RunAsync(CliArgs args, TextWriter output)
    {
        var verb = args.Required(0, "an identity command: add|list");
        using var hub = new HubApiClient(HubProfile.Resolve(args));
        switch (verb)
        {
            case "add":
                var name = args.Required(1, "the new identity's name");
                var role = args.Option("role") ?? throw new UsageException("--role researcher|station|operator is required");
                args.RejectUnknown();
                var created = await hub.CreateIdentityAsync(name, role);
                output.WriteLine($"{created.Role} '{created.Name}' created. Token (shown once, store it safely):");
                output.WriteLine(created.Token);
                return 0;
            case "list":
                args.RejectUnknown();
                foreach (var i in await hub.ListIdentitiesAsync())
                    output.WriteLine($"{i.Name,-24} {i.Role,-11} created {i.CreatedAt:yyyy-MM-dd HH:mm}  last seen {i.LastSeenAt?.ToString("yyyy-MM-dd HH:mm:ss") ?? "never"}");
                return 0;
            default:
                throw new UsageException($"unknown command 'identity {verb}'; try: identity add|list");
        }
    }

    public static async Task<int> StationAsync(CliArgs args, TextWriter output, Spectre.Console.IAnsiConsole? terminal = null)
    {
        var verb = args.Required(0, "a station command: list|approvals|audit|receipts");
        if (verb == "approvals") return await ApprovalCommands.RunAsync(args, output, terminal);
        if (verb == "audit") return await StationAuditCommands.AuditAsync(args, output);
        if (verb == "receipts") return await StationAuditCommands.ReceiptsAsync(args, output);
        if (verb != "list") throw new UsageException($"unknown command 'station {verb}'; try: station list|approvals|audit|receipts");
        using var hub = new HubApiClient(HubProfile.Resolve(args));
        args.RejectUnknown();
        foreach (var s in await hub.ListStationsAsync())
            output.WriteLine($"{s.Name,-24} last seen {s.LastSeenAt?.ToString("yyyy-MM-dd HH:mm:ss") ?? "never"}");
        return 0;
    }

    public static async Task<int> LoginAsync(CliArgs args, TextWriter output)
    {
        var connection = HubProfile.Resolve(args);
        args.RejectUnknown();
        using var hub = new HubApiClient(connection);
        var me = await hub.WhoAmIAsync();
        HubProfile.Save(connection);
        output.WriteLine($"logged in to {connection.Url} as {me.Role} '{me.Name}'; profile saved to {HubProfile.ProfilePath}");
        return 0;
    }

    public static async Task<int> WhoAmIAsync(CliArgs args, TextWriter output)
    {
        using var hub = new HubApiClient(HubProfile.Resolve(args));
        args.RejectUnknown();
        var me = await hub.WhoAmIAsync();
        output.WriteLine($"{me.Role} '{me.Name}' at {hub.Connection.Url}");
        return 0;
    }
}
