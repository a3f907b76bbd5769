namespace HealthTrain.Cli.Images;

/// <summary>One Debian package resolved against the trixie archive: its exact version and the archive's SHA-256 of the .deb.</summary>
public sealed record ResolvedPackage(string Name, string Version, string Architecture, string Sha256)
{
    /// <summary>The name <c>apt-get download</c> saves it under (an epoch's ':' is escaped as <c>%3a</c>).</summary>
    public string DebFileName => $"{Name}_{Version.Replace(":", "%3a", StringComparison.Ordinal)}_{Architecture}.deb";

    public override string ToString() => $"{Name}={Version} ({Architecture})";
}
