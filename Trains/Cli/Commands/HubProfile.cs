using System.Text.Json;
using HealthTrain.Cli.Hub;

namespace HealthTrain.Cli.Commands;

/// <summary>
/// Which hub to talk to and with which token: <c>--hub</c>/<c>--token</c>, else HEALTHTRAIN_HUB/HEALTHTRAIN_TOKEN,
/// else the profile saved by <c>healthtrain login</c> in ~/.healthtrain/profile.json (owner-only permissions).
/// </summary>
public static class HubProfile
{
    private sealed record Saved(string Hub, string Token);

    public static string ProfilePath => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".healthtrain", "profile.json");

    public static HubConnection Resolve(CliArgs args)
    {
        var hub = args.Option("hub") ?? Environment.GetEnvironmentVariable("HEALTHTRAIN_HUB");
        var token = args.Option("token") ?? Environment.GetEnvironmentVariable("HEALTHTRAIN_TOKEN");
        if ((hub is null || token is null) && File.Exists(ProfilePath))
        {
            var saved = JsonSerializer.Deserialize<Saved>(File.ReadAllText(ProfilePath));
            hub ??= saved?.Hub;
            token ??= saved?.Token;
        }
        if (hub is null || token is null)
            throw new UsageException("no hub configured: pass --hub URL --token TOKEN, set HEALTHTRAIN_HUB and HEALTHTRAIN_TOKEN, or run 'healthtrain login --hub URL --token TOKEN'");
        if (!Uri.TryCreate(hub, UriKind.Absolute, out var url))
            throw new UsageException($"'{hub}' is not an absolute hub URL (e.g. http://127.0.0.1:7000)");
        return new HubConnection(url, token);
    }

    public static void Save(HubConnection connection)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ProfilePath)!);
        File.WriteAllText(ProfilePath, JsonSerializer.Serialize(new Saved(connection.Url.ToString(), connection.Token)));
        File.SetUnixFileMode(ProfilePath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
