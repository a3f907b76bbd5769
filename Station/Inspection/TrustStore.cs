using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Station.Inspection;

/// <summary>The keys this station trusts, loaded once from <see cref="TrustOptions"/>; a key file that cannot be read stops the station.</summary>
public sealed class TrustStore
{
    public IReadOnlyList<VerificationKey> HubKeys { get; }

    /// <summary>Trusted authors' keys with the names the station's operator gave them.</summary>
    public IReadOnlyList<(string Name, VerificationKey Key)> Authors { get; }

    public string AuthorPolicy { get; }

    public TrustStore(IReadOnlyList<VerificationKey> hubKeys, IReadOnlyList<(string Name, VerificationKey Key)> authors, string authorPolicy)
    {
        if (authorPolicy is not (AuthorPolicies.HubVouched or AuthorPolicies.TrustedAuthors))
            throw new ArgumentException($"Station:Trust:AuthorPolicy '{authorPolicy}' is not one of {AuthorPolicies.HubVouched}, {AuthorPolicies.TrustedAuthors}");
        HubKeys = hubKeys;
        Authors = authors;
        AuthorPolicy = authorPolicy;
    }

    /// <exception cref="InvalidOperationException">A key file is missing or holds no P-256 public key.</exception>
    public static TrustStore Load(TrustOptions options)
    {
        static VerificationKey Read(string what, string path)
        {
            try
            {
                return VerificationKey.Load(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or SigningKeyException)
            {
                throw new InvalidOperationException($"Station:Trust: {what} {path} cannot be used: {e.Message}", e);
            }
        }
        return new TrustStore(
            [.. options.HubKeys.Select(p => Read("hub key", p))],
            [.. options.Authors.Select(a => (a.Key, Read($"the key of author '{a.Key}'", a.Value)))],
            options.AuthorPolicy);
    }
}
