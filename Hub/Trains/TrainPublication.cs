using System.Text.Json.Nodes;
using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Registry;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Hub.Trains;

/// <summary>The hub's publication key: its signature on a train's digest says "published by this hub".</summary>
public sealed class PublicationKey(SigningKey key)
{
    public SigningKey Key { get; } = key;

    /// <summary>Loads the PEM at <paramref name="path"/>, or creates a new P-256 key there (mode 0600) on first start.</summary>
    public static PublicationKey LoadOrCreate(string path)
    {
        if (File.Exists(path)) return new PublicationKey(SigningKey.Load(path));
        var key = SigningKey.Generate();
        key.Save(path);
        File.WriteAllText(path + ".pub", key.PublicKey.Pem);
        return new PublicationKey(key);
    }
}

/// <summary>A <see cref="SignatureRegistry"/> on the upstream registry, with tokens the hub mints for itself.</summary>
public sealed class HubSignatureRegistry(IHttpClientFactory clients, HubOptions options, RegistryTokenIssuer tokens)
{
    public SignatureRegistry ForHub()
    {
        var http = clients.CreateClient(nameof(HubSignatureRegistry));
        http.BaseAddress = new Uri(options.RegistryUrl);
        return new SignatureRegistry(http, (scope, _) =>
        {
            var access = scope.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                .Select(s => RegistryScope.TryParse(s, out var parsed) ? parsed : throw new SignatureRegistryException($"the registry challenged for an unreadable scope '{s}'"))
                .ToList();
            return Task.FromResult(tokens.Issue(RegistryTokenIssuer.HubSubject, access, TimeSpan.FromMinutes(1)).Token);
        });
    }
}

/// <summary>
/// Publishes trains: the hub signs the exact digest with its publication key — a cosign simple-signing signature stored
/// beside the author's, whose payload also names the author and the author key the hub checked — and records who
/// decided. Stations trust the hub's key to mean "checked and published here"; only published trains can run.
/// </summary>
public sealed class TrainPublication(TrainCatalog catalog, TrainChecks checks, HubSignatureRegistry registry, PublicationKey key, IdentityKeys keys,
    HubOptions options, ILogger<TrainPublication> log)
{
    /// <summary>The name recorded when the hub's own policy publishes a train.</summary>
    public const string PolicyActor = "hub-policy";

    /// <summary>Annotation keys in the hub's signature payload.</summary>
    public const string RoleAnnotation = "org.healthtrain.role";
    public const string AuthorAnnotation = "org.healthtrain.author";
    public const string AuthorKeyAnnotation = "org.healthtrain.author-key";
    public const string TrainAnnotation = "org.healthtrain.train";
    public const string PublicationRole = "publication";

    /// <summary>Runs the checks and records them; publishes at once when they pass and the hub's policy publishes this kind.</summary>
    public async Task<TrainInfo> CheckAsync(TrainInfo train, string registryHost, CancellationToken ct)
    {
        if (train.State is TrainStates.Published or TrainStates.Rejected) return train;
        var outcome = await checks.RunAsync(train, ct);
        train = catalog.RecordChecks(train.Id, outcome.Checks, outcome.AuthorKeyId);
        if (outcome.Passed && options.Publication.AutoPublishKinds.Contains(train.Kind))
            train = await PublishAsync(train, PolicyActor, $"the hub publishes checked {train.Kind} trains (Hub:Publication:AutoPublishKinds)", registryHost, ct);
        return train;
    }

    /// <summary>Signs and publishes a checked train.</summary>
    /// <exception cref="InvalidOperationException">The train is not in the <c>checked</c> state.</exception>
    public async Task<TrainInfo> PublishAsync(TrainInfo train, string decidedBy, string? reason, string registryHost, CancellationToken ct)
    {
        if (train.State != TrainStates.Checked)
            throw new InvalidOperationException(train.State switch
            {
                TrainStates.Published => $"train {train.Id} is already published",
                TrainStates.Rejected => $"train {train.Id} was rejected; submit a new version",
                _ => $"train {train.Id} has not passed the hub's checks: {string.Join("; ", train.Checks.Where(c => !c.Passed).Select(c => $"{c.Name}: {c.Detail}"))}",
            });
        var authorKey = train.AuthorKeyId ?? throw new InvalidOperationException($"train {train.Id} has no checked author signature");
        // The stations verify the author's signature with the key named here: the hub vouches that it is the owner's registered key.
        var authorPublicKey = keys.ActiveKeys(train.Owner).FirstOrDefault(k => k.KeyId == authorKey)
            ?? throw new InvalidOperationException($"the author key {authorKey} of train {train.Id} was revoked; the author must sign again with a registered key");
        var host = options.Publication.RegistryHost ?? registryHost;
        var payload = new SimpleSigningPayload($"{host}/{train.Repository}", train.Digest)
        {
            Creator = "healthtrain-hub",
            Timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            Annotations = new Dictionary<string, string>
            {
                [RoleAnnotation] = PublicationRole,
                [TrainAnnotation] = $"{train.Repository}:{train.Version}",
                [AuthorAnnotation] = train.Owner,
                [AuthorKeyAnnotation] = Convert.ToBase64String(authorPublicKey.SubjectPublicKeyInfo),
            },
        };
        var signature = ImageSignature.Create(key.Key, payload);
        await registry.ForHub().AttachAsync(train.Repository, train.Digest, signature, ct);
        log.LogInformation("train {Id} ({Repository}@{Digest}) published by {By}", train.Id, train.Repository, train.Digest, decidedBy);
        return catalog.Decide(train.Id, TrainStates.Published, decidedBy, reason, key.Key.KeyId, new JsonObject
        {
            ["digest"] = train.Digest, ["signature"] = signature.PayloadDigest, ["key"] = key.Key.KeyId, ["authorKey"] = authorKey,
        });
    }

    /// <summary>Rejects a train that is not published yet.</summary>
    public TrainInfo Reject(TrainInfo train, string decidedBy, string reason)
    {
        if (train.State is TrainStates.Published or TrainStates.Rejected)
            throw new InvalidOperationException($"train {train.Id} is already {train.State}");
        return catalog.Decide(train.Id, TrainStates.Rejected, decidedBy, reason, null, new JsonObject { ["digest"] = train.Digest });
    }
}
