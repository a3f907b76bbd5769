using System.Text.Json;

namespace HealthTrain.Cli.Images;

/// <summary>
/// Resolves and downloads trixie .debs with apt, using a private apt configuration and state
/// under <c>cache/apt</c> so the host's own apt (bookworm) is neither read nor changed.
/// Resolved versions are kept in <c>resolved.json</c> next to that state (one such file per recipe, see
/// <paramref name="resolvedFileName"/>): a cached call needs no network.
/// </summary>
internal sealed class AptPackageSource(string aptDirectory, Action<string> log, string resolvedFileName = AptPackageSource.DefaultResolvedFileName)
{
    /// <summary>The resolution cache of the trixie base recipe; other recipes use their own file so they do not evict it.</summary>
    public const string DefaultResolvedFileName = "resolved.json";

    private const string Keyring = "/usr/share/keyrings/debian-archive-trixie-stable.gpg";
    private const string Architecture = "amd64";

    private string ListsDirectory => Path.Combine(aptDirectory, "lists");
    private string DebsDirectory => Path.Combine(aptDirectory, "debs");
    private string ResolvedFile => Path.Combine(aptDirectory, resolvedFileName);

    /// <summary>The resolved packages, and whether the archive had to be contacted.</summary>
    public sealed record Resolution(IReadOnlyList<ResolvedPackage> Packages, bool Updated);

    /// <summary>
    /// Resolved versions for <paramref name="recipe"/>: from resolved.json when it was written for this
    /// exact recipe text, else from the package lists (running <c>apt-get update</c> first when there
    /// are none, or when <paramref name="refresh"/> asks for the archive's newest versions).
    /// </summary>
    public async Task<Resolution> ResolveAsync(BaseRecipe recipe, bool refresh, CancellationToken cancellationToken)
    {
        var recipeHash = Hashing.Sha256Hex(recipe.Text);
        if (!refresh && ReadCached(recipeHash) is { } cached) return new Resolution(cached, Updated: false);

        var updated = false;
        if (refresh || !HasLists())
        {
            await UpdateAsync(cancellationToken);
            updated = true;
        }
        var packages = await ShowAsync(recipe.Packages, cancellationToken);
        WriteCached(recipeHash, packages);
        return new Resolution(packages, updated);
    }

    /// <summary>
    /// Paths of the .debs, downloading those not already cached with the expected checksum.
    /// If the archive no longer has a version (stale lists), the caller should refresh and resolve again.
    /// </summary>
    public async Task<IReadOnlyList<string>> DownloadAsync(IReadOnlyList<ResolvedPackage> packages, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(DebsDirectory);
        var missing = packages.Where(p => !HasVerifiedDeb(p)).ToList();
        if (missing.Count > 0)
        {
            log($"downloading {missing.Count} .deb(s): {string.Join(", ", missing)}");
            await AptAsync("apt-get", ["download", .. missing.Select(p => $"{p.Name}={p.Version}")], DebsDirectory, cancellationToken);
            foreach (var p in missing)
                if (!HasVerifiedDeb(p))
                    throw new ImageBuildException($"downloaded {p.DebFileName} is missing or does not match the archive's SHA-256 {p.Sha256}");
        }
        return packages.Select(p => Path.Combine(DebsDirectory, p.DebFileName)).ToList();
    }

    private bool HasVerifiedDeb(ResolvedPackage p)
    {
        var path = Path.Combine(DebsDirectory, p.DebFileName);
        return File.Exists(path) && Hashing.Sha256HexOfFile(path) == p.Sha256;
    }

    private bool HasLists() =>
        Directory.Exists(ListsDirectory) && Directory.EnumerateFiles(ListsDirectory, "*_Packages*").Any();

    private async Task UpdateAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(Keyring))
            throw new ImageBuildException($"{Keyring} is missing; install a debian-archive-keyring that knows trixie (2023.3 or later)");
        log("apt-get update (Debian 13 trixie, private apt state)");
        await AptAsync("apt-get", ["update"], aptDirectory, cancellationToken);
    }

    /// <summary>Candidate version and checksum of each package, via <c>apt-cache show --no-all-versions</c>.</summary>
    private async Task<IReadOnlyList<ResolvedPackage>> ShowAsync(IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        var result = await AptAsync("apt-cache", ["show", "--no-all-versions", .. names], aptDirectory, cancellationToken, quiet: true);
        var found = new Dictionary<string, ResolvedPackage>();
        foreach (var stanza in ParseStanzas(result.Output))
        {
            if (!stanza.TryGetValue("Package", out var name) || !stanza.TryGetValue("Version", out var version)
                || !stanza.TryGetValue("Architecture", out var arch) || !stanza.TryGetValue("SHA256", out var sha)) continue;
            found.TryAdd(name, new ResolvedPackage(name, version, arch, sha));
        }
        var absent = names.Where(n => !found.ContainsKey(n)).ToList();
        if (absent.Count > 0)
            throw new ImageBuildException($"trixie has no package(s) named: {string.Join(", ", absent)}");
        return names.Select(n => found[n]).ToList();
    }

    internal static IEnumerable<Dictionary<string, string>> ParseStanzas(IEnumerable<string> lines)
    {
        var current = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines)
        {
            if (line.Length == 0)
            {
                if (current.Count > 0) yield return current;
                current = new Dictionary<string, string>(StringComparer.Ordinal);
                continue;
            }
            if (line[0] is ' ' or '\t') continue; // continuation of a multi-line field
            var colon = line.IndexOf(':');
            if (colon > 0) current[line[..colon]] = line[(colon + 1)..].Trim();
        }
        if (current.Count > 0) yield return current;
    }

    private async Task<ProcessResult> AptAsync(string tool, IReadOnlyList<string> arguments, string workingDirectory, CancellationToken cancellationToken, bool quiet = false)
    {
        var sourcesList = WriteSourcesList();
        Directory.CreateDirectory(Path.Combine(ListsDirectory, "partial"));
        Directory.CreateDirectory(Path.Combine(aptDirectory, "cache", "archives", "partial"));
        string[] options =
        [
            "-o", $"Dir::Etc::SourceList={sourcesList}",
            "-o", "Dir::Etc::SourceParts=/nonexistent",
            "-o", $"Dir::State::Lists={ListsDirectory}",
            "-o", $"Dir::Cache={Path.Combine(aptDirectory, "cache")}",
            "-o", "Dir::State::status=/dev/null",
            "-o", $"APT::Architecture={Architecture}",
            "-o", $"APT::Architectures={Architecture}",
            // Only the Packages index is needed; skip translations and AppStream metadata (5 MB).
            "-o", "Acquire::Languages=none",
            "-o", "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
            "-o", "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false",
            "-o", "Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false",
            "-o", "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false",
            // The cache lives in the repository, which the _apt sandbox user cannot write.
            "-o", "APT::Sandbox::User=root",
        ];
        return await ProcessRunner.RunCheckedAsync(
            $"{tool} {arguments[0]}", tool, [.. options, .. arguments], workingDirectory,
            new Dictionary<string, string> { ["LC_ALL"] = "C" },
            quiet ? null : line => log("  " + line), cancellationToken);
    }

    private string WriteSourcesList()
    {
        var dir = Path.Combine(aptDirectory, "etc");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "sources.list");
        var text = $"deb [signed-by={Keyring}] http://deb.debian.org/debian trixie main\n";
        if (!File.Exists(path) || File.ReadAllText(path) != text) File.WriteAllText(path, text);
        return path;
    }

    private sealed record CacheFile(string RecipeSha256, DateTimeOffset ResolvedAt, List<ResolvedPackage> Packages);

    private IReadOnlyList<ResolvedPackage>? ReadCached(string recipeHash)
    {
        if (!File.Exists(ResolvedFile)) return null;
        try
        {
            var cache = JsonSerializer.Deserialize<CacheFile>(File.ReadAllText(ResolvedFile), JsonSerializerOptions.Web);
            return cache is { Packages.Count: > 0 } && cache.RecipeSha256 == recipeHash ? cache.Packages : null;
        }
        catch (JsonException)
        {
            return null; // a damaged cache is re-resolved, not fatal
        }
    }

    private void WriteCached(string recipeHash, IReadOnlyList<ResolvedPackage> packages)
    {
        var json = JsonSerializer.Serialize(new CacheFile(recipeHash, DateTimeOffset.UtcNow, [.. packages]),
            new JsonSerializerOptions(JsonSerializerOptions.Web) { WriteIndented = true });
        var temp = ResolvedFile + ".tmp";
        File.WriteAllText(temp, json);
        File.Move(temp, ResolvedFile, overwrite: true);
    }
}
