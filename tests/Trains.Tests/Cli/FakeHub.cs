using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Trains.Tests.Cli;

/// <summary>A loopback HTTP server answering the hub API paths a test names, so CLI commands run against canned data.</summary>
internal sealed class FakeHub : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Func<string, object?> _answer;

    /// <param name="answer">The body for a path and query, or null for a 404.</param>
    public FakeHub(Func<string, object?> answer)
    {
        _answer = answer;
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Url = new Uri($"http://127.0.0.1:{port}/");
        _listener.Prefixes.Add(Url.ToString());
        _listener.Start();
        _ = Task.Run(ServeAsync);
    }

    public Uri Url { get; }

    /// <summary>The command line options that point a command at this hub.</summary>
    public string[] Options => ["--hub", Url.ToString(), "--token", "ht_test"];

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException) { return; }
            var body = _answer(context.Request.Url!.PathAndQuery);
            context.Response.StatusCode = body is null ? 404 : 200;
            context.Response.ContentType = "application/json";
            var json = JsonSerializer.SerializeToUtf8Bytes(body ?? new ApiError("not found"), body?.GetType() ?? typeof(ApiError), ProtocolJson.Api);
            await context.Response.OutputStream.WriteAsync(json);
            context.Response.Close();
        }
    }

    public void Dispose() => _listener.Close();
}
