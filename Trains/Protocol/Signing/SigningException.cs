namespace HealthTrain.Trains.Protocol.Signing;

/// <summary>A key that cannot be used: wrong passphrase, missing passphrase, unsupported format or curve, unsafe file permissions.</summary>
public sealed class SigningKeyException : Exception
{
    public SigningKeyException(string message) : base(message) { }
    public SigningKeyException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// The registry refused or failed a request, or returned something that is not what was asked for
/// (a blob whose digest does not match, an unparseable signature manifest).
/// </summary>
public sealed class SignatureRegistryException : Exception
{
    public SignatureRegistryException(string message, System.Net.HttpStatusCode? statusCode = null) : base(message) => StatusCode = statusCode;

    /// <summary>The HTTP status of the failed request, when there was one.</summary>
    public System.Net.HttpStatusCode? StatusCode { get; }
}
