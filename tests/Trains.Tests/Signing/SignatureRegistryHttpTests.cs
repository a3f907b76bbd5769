using System.Net;
using System.Text;
using HealthTrain.Trains.Protocol.Signing;

namespace HealthTrain.Trains.Tests.Signing;

/// <summary>The registry client's HTTP behaviour against a scripted handler: Basic credentials, their scope, errors.</summary>
public sealed class SignatureRegistryHttpTests
{
    private static readonly string Digest = "sha256:" + new string('c', 64);

    [Fact]
    public async Task Basic_credentials_go_to_the_registry_origin_and_not_to_a_foreign_upload_location()
    {
        var handler = new ScriptedHandler(request => request switch
        {
            { Method.Method: "GET" } when request.RequestUri!.AbsolutePath.EndsWith(".sig", StringComparison.Ordinal) => new HttpResponseMessage(HttpStatusCode.NotFound),
            { Method.Method: "HEAD" } => new HttpResponseMessage(HttpStatusCode.NotFound),
            { Method.Method: "POST" } => Accepted("http://elsewhere.example/v2/alice/stats/blobs/uploads/u1?_state=a%2Bb"),
            { Method.Method: "PUT" } => new HttpResponseMessage(HttpStatusCode.Created),
            _ => new HttpResponseMessage(HttpStatusCode.InternalServerError),
        });
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://hub.example:8080/") };
        var registry = new SignatureRegistry(http, new RegistryCredentials("alice", "ht_secret"));

        await registry.UploadBlobAsync("alice/stats", Cosign.Digest("x"u8), "x"u8.ToArray());

        var expected = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:ht_secret"));
        Assert.Equal(3, handler.Requests.Count);
        Assert.Equal(("HEAD", "http://hub.example:8080/v2/alice/stats/blobs/" + Cosign.Digest("x"u8), expected), handler.Requests[0]);
        Assert.Equal(("POST", "http://hub.example:8080/v2/alice/stats/blobs/uploads/", expected), handler.Requests[1]);
        // The upload state stays escaped, the digest is appended, and the foreign host gets no credentials.
        Assert.Equal(("PUT", "http://elsewhere.example/v2/alice/stats/blobs/uploads/u1?_state=a%2Bb&digest=sha256%3A" + Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("x"u8)), null), handler.Requests[2]);
    }

    [Fact]
    public async Task A_relative_upload_location_resolves_against_the_gateway_and_keeps_credentials()
    {
        var handler = new ScriptedHandler(request => request.Method.Method switch
        {
            "HEAD" => new HttpResponseMessage(HttpStatusCode.NotFound),
            "POST" => Accepted("/v2/alice/stats/blobs/uploads/u2"),
            _ => new HttpResponseMessage(HttpStatusCode.Created),
        });
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://hub.example:8080") };
        await new SignatureRegistry(http, new RegistryCredentials("alice", "t")).UploadBlobAsync("alice/stats", Cosign.Digest("y"u8), "y"u8.ToArray());
        Assert.StartsWith("http://hub.example:8080/v2/alice/stats/blobs/uploads/u2?digest=", handler.Requests[2].Uri);
        Assert.NotNull(handler.Requests[2].Authorization);
    }

    [Fact]
    public async Task Refusals_are_reported_with_status_and_registry_message()
    {
        var handler = new ScriptedHandler(_ => new HttpResponseMessage(HttpStatusCode.Forbidden)
        {
            Content = new StringContent("""{"errors":[{"code":"DENIED","message":"stations may only pull"}]}"""),
        });
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://hub.example/") };
        using var key = SigningKey.Generate();
        var error = await Assert.ThrowsAsync<SignatureRegistryException>(() => new SignatureRegistry(http).SignAsync("alice/stats", Digest, key));
        Assert.Equal(HttpStatusCode.Forbidden, error.StatusCode);
        Assert.Contains("stations may only pull", error.Message);
    }

    [Fact]
    public async Task Names_and_digests_are_validated_before_any_request()
    {
        var handler = new ScriptedHandler(_ => throw new InvalidOperationException("no request expected"));
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://hub.example/") };
        var registry = new SignatureRegistry(http);
        await Assert.ThrowsAsync<ArgumentException>(() => registry.ReadSignaturesAsync("../etc", Digest));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.ReadSignaturesAsync("Alice/Stats", Digest));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.ReadSignaturesAsync("alice/stats", "sha256:xyz"));
        await Assert.ThrowsAsync<ArgumentException>(() => registry.ResolveDigestAsync("alice/stats", "a/b"));
        Assert.Equal("hub.example/alice/stats", registry.DockerReferenceFor("alice/stats"));
    }

    private static HttpResponseMessage Accepted(string location)
    {
        var response = new HttpResponseMessage(HttpStatusCode.Accepted);
        response.Headers.Location = new Uri(location, UriKind.RelativeOrAbsolute);
        return response;
    }

    private sealed class ScriptedHandler(Func<HttpRequestMessage, HttpResponseMessage> respond) : HttpMessageHandler
    {
        public List<(string Method, string Uri, string? Authorization)> Requests { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Add((request.Method.Method, request.RequestUri!.AbsoluteUri, request.Headers.Authorization?.ToString()));
            var response = respond(request);
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }
}
