using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Registry;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Images;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Hub.Trains;

/// <summary>What the hub checked about a train's image, and which author key signed it (null when none of the owner's did).</summary>
public sealed record TrainCheckOutcome(IReadOnlyList<TrainCheck> Checks, string? AuthorKeyId)
{
    public bool Passed => Checks.All(c => c.Passed);
}

/// <summary>
/// The hub's checks before a train may be published: a valid manifest, a signature by one of the owner's registered keys
/// on the exact digest, a non-root user, no exposed ports, and a size under the limit. Each check reports what it found.
/// </summary>
public sealed class TrainChecks(RegistryClient registry, HubSignatureRegistry signatures, IdentityKeys keys, HubOptions options)
{
    public const string Manifest = "manifest";
    public const string AuthorSignature = "author-signature";
    public const string NonRoot = "non-root";
    public const string NoExposedPorts = "no-exposed-ports";
    public const string Size = "size";

    /// <exception cref="RegistryImageException">The registry no longer holds the image.</exception>
    /// <exception cref="RegistryUnavailableException">The registry could not be read.</exception>
    public async Task<TrainCheckOutcome> RunAsync(TrainInfo train, CancellationToken ct)
    {
        var image = await registry.ReadImageAsync(train.Repository, train.Digest, ct);
        var checks = new List<TrainCheck>();

        image.Labels.TryGetValue(TrainManifest.LabelKey, out var label);
        var (manifest, errors) = ManifestValidator.Parse(label);
        checks.Add(manifest is null
            ? new(Manifest, false, "invalid: " + string.Join("; ", errors))
            : new(Manifest, true, $"valid {manifest.Kind} train: {manifest.Inputs.Count} input(s), {manifest.Outputs.Statistics.Count} statistic(s), {manifest.Outputs.Tensors.Count} tensor(s)"));

        var (signatureCheck, authorKeyId) = await CheckAuthorSignatureAsync(train, ct);
        checks.Add(signatureCheck);

        checks.Add(ImageUser.IsNonRoot(image.User) ? new(NonRoot, true, $"runs as {ImageUser.Describe(image.User)}")
            : options.Publication.AllowRootImages ? new(NonRoot, true, $"runs as {ImageUser.Describe(image.User)}, allowed by Hub:Publication:AllowRootImages; each station decides (Station:RootImages)")
            : new(NonRoot, false, $"runs as {ImageUser.Describe(image.User)}; set a numeric non-root USER such as 65532:65532"));
        checks.Add(image.ExposedPorts.Count == 0
            ? new(NoExposedPorts, true, "exposes no ports")
            : new(NoExposedPorts, false, $"exposes {string.Join(", ", image.ExposedPorts)}; a train serves nothing"));
        checks.Add(image.Size <= options.Publication.MaxImageBytes
            ? new(Size, true, $"{Mib(image.Size)} in {image.Layers} layer(s), limit {Mib(options.Publication.MaxImageBytes)}")
            : new(Size, false, $"{Mib(image.Size)} is over the hub's limit of {Mib(options.Publication.MaxImageBytes)}"));
        return new TrainCheckOutcome(checks, authorKeyId);
    }

    private async Task<(TrainCheck Check, string? KeyId)> CheckAuthorSignatureAsync(TrainInfo train, CancellationToken ct)
    {
        var ownerKeys = keys.ActiveKeys(train.Owner);
        if (ownerKeys.Count == 0)
            return (new(AuthorSignature, false, $"{train.Owner} has no registered signing key (healthtrain keys register)"), null);
        IReadOnlyList<StoredSignature> stored;
        try
        {
            stored = await signatures.ForHub().ReadSignaturesAsync(train.Repository, train.Digest, ct);
        }
        catch (SignatureRegistryException e)
        {
            return (new(AuthorSignature, false, $"the signatures could not be read: {e.Message}"), null);
        }
        if (stored.Count == 0)
            return (new(AuthorSignature, false, $"the image has no signature; sign it with healthtrain train sign (as {train.Owner})"), null);
        var verification = SignatureVerifier.Verify(train.Digest, stored, ownerKeys);
        // The signed payload must name this repository (any registry host: researchers push through whatever address they reach the hub by).
        var valid = verification.Checks.FirstOrDefault(c => c.IsValid && PathOf(c.Payload!.DockerReference) == train.Repository);
        if (valid is not null)
            return (new(AuthorSignature, true, $"signed by {train.Owner}'s key {valid.KeyId![..16]}…"), valid.KeyId);
        var problems = verification.Checks.Select(c => c.IsValid ? $"names '{c.Payload!.DockerReference}', not {train.Repository}" : c.Problem!).Distinct();
        return (new(AuthorSignature, false, $"no valid signature by {train.Owner}'s registered keys: {string.Join("; ", problems)}"), null);
    }

    /// <summary>The repository path of <c>HOST[:PORT]/PATH[:TAG]</c>.</summary>
    private static string PathOf(string dockerReference)
    {
        var repository = SignatureVerifier.RepositoryOf(dockerReference);
        var slash = repository.IndexOf('/');
        return slash < 0 ? repository : repository[(slash + 1)..];
    }

    private static string Mib(long bytes) => $"{bytes / 1048576.0:0.#} MiB";
}
