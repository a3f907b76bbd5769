namespace HealthTrain.Cli.Images;

/// <summary>
/// The recipe of the trixie base image (<c>Trains/BaseImages/trixie-base.packages</c>), or of another
/// image made only from .debs (e.g. <c>skopeo.packages</c>): one Debian package name per line,
/// <c>exclude PATH</c> lines naming paths to drop after unpacking, and <c>#</c> comments.
/// <see cref="Text"/> is hashed into the image tag.
/// </summary>
public sealed record BaseRecipe(string Text, IReadOnlyList<string> Packages, IReadOnlyList<string> Excludes)
{
    /// <summary>The recipe's file name inside the base-images directory.</summary>
    public const string FileName = "trixie-base.packages";

    public static BaseRecipe Load(string path)
    {
        if (!File.Exists(path)) throw new ImageBuildException($"base image recipe not found: {path}");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses recipe text; <paramref name="source"/> only names the recipe in error messages.</summary>
    public static BaseRecipe Parse(string text, string source = FileName)
    {
        var packages = new List<string>();
        var excludes = new List<string>();
        var problems = new List<string>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var hash = line.IndexOf('#');
            if (hash >= 0) line = line[..hash];
            line = line.Trim();
            if (line.Length == 0) continue;
            var where = $"{source}:{i + 1}";
            if (line.StartsWith("exclude ", StringComparison.Ordinal))
            {
                var path = line["exclude ".Length..].Trim().Trim('/');
                // Only plain relative paths: an exclude must never reach outside the rootfs.
                if (path.Length == 0 || path.Split('/').Any(part => part is "" or "." or ".."))
                    problems.Add($"{where}: '{line}' must name a relative path without '.' or '..' parts");
                else excludes.Add(path);
            }
            else if (IsPackageName(line))
            {
                if (packages.Contains(line)) problems.Add($"{where}: package '{line}' is listed twice");
                else packages.Add(line);
            }
            else problems.Add($"{where}: '{line}' is neither a Debian package name nor an 'exclude PATH' line");
        }
        if (packages.Count == 0) problems.Add($"{source}: lists no packages");
        if (problems.Count > 0)
            throw new ImageBuildException("base image recipe is invalid:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", problems));
        return new BaseRecipe(text, packages, excludes);
    }

    // Debian policy 5.6.1: lower-case letters, digits, '+', '-', '.'; at least two characters; starts alphanumeric.
    private static bool IsPackageName(string s) =>
        s.Length >= 2 && (char.IsAsciiLetterLower(s[0]) || char.IsAsciiDigit(s[0]))
        && s.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '+' or '-' or '.');
}
