using Docker.DotNet;
using Docker.DotNet.Models;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Cli.Hub;

/// <summary>How far the upload of one image layer has got, as Docker reports it during a push.</summary>
/// <param name="Layer">Docker's short layer id.</param>
/// <param name="Sent">Bytes uploaded so far (0 when the registry already had the layer).</param>
/// <param name="Total">The layer's size in bytes, or 0 when not known.</param>
/// <param name="Finished">Pushed, or already in the registry.</param>
public sealed record LayerUpload(string Layer, long Sent, long Total, bool Finished);

/// <summary>
/// Pushes a locally built train image through the hub's registry gateway, signs the pushed digest with the author's key
/// (when given) and submits it by digest.
/// </summary>
public sealed class TrainPublisher(DockerClient docker, HubApiClient hub, SigningKey? signingKey = null)
{
    /// <summary>
    /// Pushes <paramref name="localImage"/> as <c>HUB/OWNER/NAME:VERSION</c>, signs the pushed digest (before the hub
    /// checks it), and submits it at the hub.
    /// </summary>
    public async Task<TrainInfo> PushAsync(string localImage, Action<string>? progress = null, IProgress<LayerUpload>? uploads = null, CancellationToken ct = default)
    {
        var me = await hub.WhoAmIAsync(ct);
        var image = await docker.Images.InspectImageAsync(localImage, ct);
        var labels = image.Config?.Labels ?? new Dictionary<string, string>();
        labels.TryGetValue(TrainManifest.LabelKey, out var label);
        // Fail here with every problem listed rather than after a push the hub would refuse.
        var manifest = ManifestValidator.ParseOrThrow(label);
        var repository = $"{me.Name}/{manifest.Name}";
        var digest = await PushImageAsync(localImage, repository, manifest.Version, me.Name, progress, uploads, ct);
        if (signingKey is not null)
        {
            using var http = new HttpClient { BaseAddress = new Uri(hub.Connection.Url, "/"), Timeout = TimeSpan.FromMinutes(2) };
            var registry = new SignatureRegistry(http, new RegistryCredentials(me.Name, hub.Connection.Token));
            await registry.SignAsync(repository, digest, signingKey, creator: "healthtrain", cancellationToken: ct);
            progress?.Invoke($"  signed {digest} with key {signingKey.KeyId[..16]}…");
        }
        return await hub.SubmitTrainAsync(new TrainSubmission(repository, digest), ct);
    }

    /// <summary>Pushes a local image as <c>HUB/REPOSITORY:TAG</c> through the gateway and returns the registry's manifest digest.</summary>
    public async Task<string> PushImageAsync(string localImage, string repository, string tag, string user, Action<string>? progress = null,
        IProgress<LayerUpload>? uploads = null, CancellationToken ct = default)
    {
        var registry = hub.Connection.RegistryHost;
        var remote = $"{registry}/{repository}";
        await docker.Images.TagImageAsync(localImage, new ImageTagParameters { RepositoryName = remote, Tag = tag, Force = true }, ct);
        string? error = null;
        var layers = new HashSet<string>();
        await docker.Images.PushImageAsync(remote, new ImagePushParameters { Tag = tag },
            new AuthConfig { ServerAddress = registry, Username = user, Password = hub.Connection.Token },
            new ImmediateProgress<JSONMessage>(m =>
            {
                if (m.Error is not null) error = m.Error.Message;
                else if (m.Status is "Pushed" or "Layer already exists" && m.ID is not null && layers.Add(m.ID + m.Status))
                {
                    uploads?.Report(new LayerUpload(m.ID, m.Progress?.Total ?? 0, m.Progress?.Total ?? 0, Finished: true));
                    progress?.Invoke($"  {m.ID}: {m.Status}");
                }
                else if (m.Status == "Pushing" && m.ID is not null && m.Progress is { Total: > 0 } sent)
                    uploads?.Report(new LayerUpload(m.ID, sent.Current, sent.Total, Finished: false));
            }), ct);
        if (error is not null) throw new InvalidOperationException($"pushing {remote}:{tag} failed: {error}");
        var pushed = await docker.Images.InspectImageAsync(localImage, ct);
        return pushed.RepoDigests?.FirstOrDefault(d => d.StartsWith(remote + "@", StringComparison.Ordinal))?[(remote.Length + 1)..]
            ?? throw new InvalidOperationException($"the push of {remote} reported no digest");
    }
}
