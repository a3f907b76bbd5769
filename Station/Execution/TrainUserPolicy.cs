using HealthTrain.Trains.Protocol.Images;

namespace HealthTrain.Station.Execution;

/// <summary>
/// Which user a train runs as. A train image must name a numeric non-root uid (optionally uid:gid, gid not 0);
/// for any other image — no user (root), root, uid or gid 0, or a user name the image's own /etc/passwd could map
/// to uid 0 — the station's <c>Station:RootImages</c> setting decides: <c>refuse</c> the job (the default) or
/// <c>remap</c> it to <see cref="DefaultUser"/>.
/// </summary>
public static class TrainUserPolicy
{
    /// <summary>Uid and gid trains built by <c>healthtrain train build</c> run as, and what <c>remap</c> runs other images as.</summary>
    public const string DefaultUser = "65532:65532";

    /// <summary>Setting value: refuse images that do not name a numeric non-root user.</summary>
    public const string Refuse = "refuse";

    /// <summary>Setting value: run such images as <see cref="DefaultUser"/>.</summary>
    public const string Remap = "remap";

    /// <summary>Why <paramref name="setting"/> is not a valid <c>Station:RootImages</c> value, or null if it is.</summary>
    public static string? WhyInvalid(string? setting) =>
        setting is Refuse or Remap ? null : $"Station:RootImages must be '{Refuse}' or '{Remap}', not '{setting}'";

    /// <summary>Whether the image's configured user is a numeric uid (and gid) other than 0: the rule the hub's publication check applies too.</summary>
    public static bool IsNumericNonRoot(string imageUser) => ImageUser.IsNonRoot(imageUser);

    /// <summary>The user to run the image as, or the reason the station refuses to run it.</summary>
    public static (string? User, string? Refusal) Decide(string imageUser, string setting)
    {
        if (WhyInvalid(setting) is { } invalid) throw new ArgumentException(invalid, nameof(setting));
        if (IsNumericNonRoot(imageUser)) return (imageUser, null);
        if (setting == Remap) return (DefaultUser, null);
        var described = imageUser.Length == 0 ? "names no user, so it would run as root" : $"runs as user '{imageUser}'";
        return (null, $"the image {described}, and this station's Station:RootImages setting is '{Refuse}': a train image must set " +
                      $"USER to a numeric non-root uid[:gid] such as {DefaultUser} (the station's operator may set Station:RootImages={Remap} " +
                      $"to run such images as {DefaultUser} instead)");
    }
}
