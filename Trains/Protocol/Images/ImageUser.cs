using System.Globalization;

namespace HealthTrain.Trains.Protocol.Images;

/// <summary>The rule hub and station share for an image config's <c>User</c>: which values mean "not root" for certain.</summary>
public static class ImageUser
{
    /// <summary>
    /// True for a numeric non-zero uid, optionally with a numeric non-zero gid (<c>65532</c>, <c>1000:1000</c>).
    /// Empty means root; a user name is refused too, since the image's own /etc/passwd could map it to uid 0.
    /// </summary>
    public static bool IsNonRoot(string? user)
    {
        if (string.IsNullOrEmpty(user)) return false;
        var parts = user.Split(':');
        return parts.Length is 1 or 2 && parts.All(NonRootId);
    }

    private static bool NonRootId(string s) =>
        s.Length is > 0 and <= 10 && s.All(char.IsAsciiDigit) && long.Parse(s, CultureInfo.InvariantCulture) is > 0 and < int.MaxValue;

    /// <summary>How the user reads in messages.</summary>
    public static string Describe(string? user) => string.IsNullOrEmpty(user) ? "no user (root)" : $"user '{user}'";
}
