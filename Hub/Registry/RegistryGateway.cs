using HealthTrain.Hub.Identity;
using HealthTrain.Trains.Protocol;
using Yarp.ReverseProxy.Configuration;

namespace HealthTrain.Hub.Registry;

/// <summary>
/// The registry is reachable only through the hub: YARP forwards <c>/v2/</c> to the loopback registry
/// after the caller is authenticated and allowed this repository and method.
/// </summary>
public static class RegistryGateway
{
    public static IServiceCollection AddRegistryGateway(this IServiceCollection services, string registryUrl)
    {
        var route = new RouteConfig
        {
            RouteId = "registry",
            ClusterId = "registry",
            Match = new RouteMatch { Path = "/v2/{**rest}" },
            AuthorizationPolicy = "authenticated",
            // Keep the hub's host so any absolute URL the registry builds points back at the gateway.
            Transforms = [new Dictionary<string, string> { ["RequestHeaderOriginalHost"] = "true" }],
        };
        var cluster = new ClusterConfig
        {
            ClusterId = "registry",
            Destinations = new Dictionary<string, DestinationConfig> { ["upstream"] = new() { Address = registryUrl } },
            HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromMinutes(10) },
        };
        services.AddReverseProxy().LoadFromMemory([route], [cluster]);
        services.AddHttpClient<RegistryClient>(c => c.BaseAddress = new Uri(registryUrl));
        return services;
    }

    public static void MapRegistryGateway(this WebApplication app) =>
        app.MapReverseProxy(pipeline => pipeline.Use(async (http, next) =>
        {
            var caller = http.User.Caller();
            var decision = RegistryAccess.Decide(caller, http.Request.Method, http.Request.Path.Value ?? "", http.Request.Query["from"].ToString());
            if (decision is not null)
            {
                http.Response.StatusCode = StatusCodes.Status403Forbidden;
                http.Response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
                await http.Response.WriteAsJsonAsync(new { errors = new[] { new { code = "DENIED", message = decision } } });
                return;
            }
            // Image layers are far larger than Kestrel's default body limit; the registry enforces its own.
            if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } body)
                body.MaxRequestBodySize = null;
            await next();
        }));
}

/// <summary>Who may do what in the registry: researchers read and write their own namespace, stations only read, operators everything.</summary>
public static class RegistryAccess
{
    private static readonly string[] Markers = ["/manifests/", "/blobs/", "/tags/"];

    /// <summary>Null when allowed, else the reason for refusing. <paramref name="mountFrom"/> is a blob mount's source repository.</summary>
    public static string? Decide(Caller caller, string method, string path, string? mountFrom = null)
    {
        if (caller.Role == Roles.Operator) return null;
        if (path is "/v2" or "/v2/") return null;
        var repository = RepositoryOf(path);
        if (repository is null) return "only repository requests are allowed";
        var reading = HttpMethods.IsGet(method) || HttpMethods.IsHead(method);
        return caller.Role switch
        {
            Roles.Station => reading ? null : "stations may only pull",
            // A blob mount reads from its source repository, so the source must be the researcher's too.
            Roles.Researcher => repository.StartsWith(caller.Name + "/", StringComparison.Ordinal)
                                && (string.IsNullOrEmpty(mountFrom) || mountFrom.StartsWith(caller.Name + "/", StringComparison.Ordinal))
                ? null
                : $"researcher '{caller.Name}' may only use repositories under '{caller.Name}/'",
            _ => "no registry access for this role",
        };
    }

    /// <summary>The repository name in a registry API path, e.g. <c>alice/stats</c> in <c>/v2/alice/stats/blobs/uploads/</c>.</summary>
    public static string? RepositoryOf(string path)
    {
        if (!path.StartsWith("/v2/", StringComparison.Ordinal)) return null;
        var best = -1;
        foreach (var marker in Markers)
        {
            var i = path.IndexOf(marker, 4, StringComparison.Ordinal);
            if (i > 4 && (best < 0 || i < best)) best = i;
        }
        return best < 0 ? null : path[4..best];
    }
}
