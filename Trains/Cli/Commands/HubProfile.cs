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
            // The saved token belongs to the saved hub: never send it to another one.
            if (token is null && saved is not null && SameHub(hub, saved.Hub)) token = saved.Token;
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
        var temp = ProfilePath + ".tmp";
        // Created owner-only before the token is written, then moved into place.
        using (var file = new FileStream(temp, new FileStreamOptions
               { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
        using (var writer = new StreamWriter(file))
            writer.Write(JsonSerializer.Serialize(new Saved(connection.Url.ToString(), connection.Token)));
        File.SetUnixFileMode(temp, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temp, ProfilePath, overwrite: true);
    }

    private static bool SameHub(string? a, string b) =>
        Uri.TryCreate(a, UriKind.Absolute, out var x) && Uri.TryCreate(b, UriKind.Absolute, out var y)
        && Uri.Compare(x, y, UriComponents.SchemeAndServer, UriFormat.Unescaped, StringComparison.OrdinalIgnoreCase) == 0;
}
