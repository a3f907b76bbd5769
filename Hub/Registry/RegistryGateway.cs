using HealthTrain.Hub.Identity;
using HealthTrain.Trains.Protocol;
using Microsoft.AspNetCore.Authentication;
using Yarp.ReverseProxy.Configuration;

namespace HealthTrain.Hub.Registry;

/// <summary>
/// The registry is reachable only through the hub: YARP forwards <c>/v2/</c> to the loopback registry after the
/// caller is authenticated and allowed this repository and method. The registry checks again by itself: it accepts
/// only bearer tokens the hub signed (<see cref="RegistryTokenIssuer"/>, served at <c>/v2/token</c>).
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
            // Authentication is the gateway's own (below): it accepts the hub's registry tokens as well as identity tokens,
            // and answers anonymous callers with the registry's kind of challenge. Nothing anonymous is forwarded.
            AuthorizationPolicy = "anonymous",
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
        services.AddOptions<RegistryTokenOptions>().BindConfiguration(RegistryTokenOptions.Section);
        services.AddSingleton(sp => RegistryTokenIssuer.LoadOrCreate(
            sp.GetRequiredService<HubOptions>().DataDir, sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<RegistryTokenOptions>>().Value));
        services.AddHttpClient<RegistryClient>(c => c.BaseAddress = new Uri(registryUrl));
        return services;
    }

    /// <summary>Maps the token endpoint and the gateway.</summary>
    public static void MapRegistryGateway(this WebApplication app)
    {
        // Now, not on first use: the registry reads the certificate when it starts, which may be before anyone pushes.
        var issuer = app.Services.GetRequiredService<RegistryTokenIssuer>();
        app.Logger.LogInformation("registry tokens: issuer {Issuer}, service {Service}, key {KeyId}, certificate {Certificate}",
            issuer.Options.Issuer, issuer.Options.Service, issuer.KeyId, issuer.CertificatePath);
        app.MapRegistryTokenEndpoints();
        app.MapReverseProxy(pipeline => pipeline.Use(async (http, next) =>
        {
            var caller = await AuthenticateAsync(http, issuer);
            if (caller is null) return;
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
            // The registry's own answers, 401 challenges naming the hub's token realm included, go back unchanged.
            await next();
        }));
    }

    /// <summary>
    /// The caller, by identity token (Basic <c>NAME:TOKEN</c> or Bearer) or by a registry token the hub issued to an
    /// identity; null once a 401 has been written. Without credentials the answer is the registry's Bearer challenge,
    /// so Docker (which pings <c>/v2/</c> anonymously) learns where to get a token.
    /// </summary>
    private static async Task<Caller?> AuthenticateAsync(HttpContext http, RegistryTokenIssuer issuer)
    {
        if (http.User.Identity?.IsAuthenticated == true) return http.User.Caller();
        var header = http.Request.Headers.Authorization.ToString();
        if (string.IsNullOrWhiteSpace(header))
        {
            await WriteBearerChallengeAsync(http, issuer.Options, null);
            return null;
        }
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header["Bearer ".Length..].Trim() is var jwt && jwt.Count(c => c == '.') == 2)
        {
            var claims = issuer.Validate(jwt, out var error);
            // Only tokens issued to an identity: the hub's own tokens (RegistryTokenIssuer.HubSubject) never pass the gateway.
            var caller = claims is null ? null : http.RequestServices.GetRequiredService<Identities>().FindByName(claims.Subject);
            if (caller is not null) return caller;
            await WriteBearerChallengeAsync(http, issuer.Options, error ?? "the token's subject is not an identity");
            return null;
        }
        // An identity token or Basic credentials that did not authenticate: the hub's own challenge.
        await http.ChallengeAsync();
        return null;
    }

    private static async Task WriteBearerChallengeAsync(HttpContext http, RegistryTokenOptions options, string? error)
    {
        var realm = options.Realm ?? $"{http.Request.Scheme}://{http.Request.Host}/v2/token";
        var challenge = $"Bearer realm=\"{realm}\",service=\"{options.Service}\"";
        var path = http.Request.Path.Value ?? "";
        if (RegistryAccess.RepositoryOf(path) is { } repository && RegistryNames.IsRepository(repository)
            && RegistryAccess.ActionsFor(http.Request.Method) is { } actions)
            challenge += $",scope=\"repository:{repository}:{string.Join(',', actions)}\"";
        else if (path == "/v2/_catalog")
            challenge += ",scope=\"registry:catalog:*\"";
        if (error is not null) challenge += ",error=\"invalid_token\"";
        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        http.Response.Headers.WWWAuthenticate = challenge;
        http.Response.Headers["Docker-Distribution-API-Version"] = "registry/2.0";
        await http.Response.WriteAsJsonAsync(new
        {
            errors = new[] { new { code = "UNAUTHORIZED", message = error is null ? "authentication required" : $"invalid registry token: {error}" } },
        });
    }
}

/// <summary>
/// Who may do what in the registry: researchers pull and push in their own namespace, stations only pull, operators
/// everything. One policy for both checks: the gateway's per-request decision and the scopes the token server grants.
/// </summary>
public static class RegistryAccess
{
    public const string Pull = "pull";
    public const string Push = "push";
    public const string Delete = "delete";
    public const string All = "*";

    private static readonly string[] Markers = ["/manifests/", "/blobs/", "/tags/"];

    /// <summary>Null when allowed, else the reason for refusing. <paramref name="mountFrom"/> is a blob mount's source repository.</summary>
    public static string? Decide(Caller caller, string method, string path, string? mountFrom = null)
    {
        if (caller.Role == Roles.Operator) return null;
        if (path is "/v2" or "/v2/") return null;
        var repository = RepositoryOf(path);
        if (repository is null) return "only repository requests are allowed";
        var needed = ActionsFor(method);
        if (needed is null) return $"{method} is not a registry request";
        // A blob mount reads from its source repository, so the caller must be allowed to pull that too.
        if (Covers(caller, repository, needed) && (string.IsNullOrEmpty(mountFrom) || Covers(caller, mountFrom, [Pull]))) return null;
        return caller.Role switch
        {
            Roles.Station => "stations may only pull",
            Roles.Researcher when !InNamespace(caller, repository) || (!string.IsNullOrEmpty(mountFrom) && !InNamespace(caller, mountFrom))
                => $"researcher '{caller.Name}' may only use repositories under '{caller.Name}/'",
            Roles.Researcher when !RegistryNames.IsRepository(repository) => $"'{repository}' is not a repository name",
            Roles.Researcher => $"researchers may only pull and push, not {string.Join(", ", needed.Except([Pull, Push]))}",
            _ => "no registry access for this role",
        };
    }

    /// <summary>The actions distribution requires for a request method on a repository; null for methods it does not serve.</summary>
    public static string[]? ActionsFor(string method) =>
        HttpMethods.IsGet(method) || HttpMethods.IsHead(method) ? [Pull]
        : HttpMethods.IsPost(method) || HttpMethods.IsPut(method) || HttpMethods.IsPatch(method) ? [Pull, Push]
        : HttpMethods.IsDelete(method) ? [Delete]
        : null;

    /// <summary>
    /// The part of a token request the caller is allowed: each resource once, with the requested actions it may take
    /// (<c>*</c> from someone who may not do everything becomes what they may do); resources with none are left out.
    /// </summary>
    public static IReadOnlyList<RegistryScope> Grant(Caller caller, IEnumerable<RegistryScope> requested)
    {
        var granted = new List<RegistryScope>();
        foreach (var scope in requested)
        {
            var actions = Grant(caller, scope.Type, scope.Name, scope.Actions);
            if (actions.Count == 0) continue;
            var i = granted.FindIndex(g => g.Type == scope.Type && g.Name == scope.Name);
            if (i < 0) granted.Add(new RegistryScope(scope.Type, scope.Name, actions));
            else granted[i] = granted[i] with { Actions = granted[i].Actions.Union(actions, StringComparer.Ordinal).ToArray() };
        }
        return granted;
    }

    /// <summary>The requested actions on one resource that the caller may take, in request order.</summary>
    public static IReadOnlyList<string> Grant(Caller caller, string type, string name, IEnumerable<string> requested)
    {
        var allowed = Allowed(caller, type, name);
        if (allowed.Length == 0) return [];
        var granted = new List<string>();
        foreach (var action in requested)
        {
            if (allowed.Contains(All)) granted.Add(action);
            else if (action == All) granted.AddRange(allowed);
            else if (allowed.Contains(action)) granted.Add(action);
        }
        return granted.Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>Everything the caller may do with a resource.</summary>
    private static string[] Allowed(Caller caller, string type, string name) => type switch
    {
        "repository" when RegistryNames.IsRepository(name) => caller.Role switch
        {
            Roles.Operator => [All],
            Roles.Station => [Pull],
            Roles.Researcher when InNamespace(caller, name) => [Pull, Push],
            _ => [],
        },
        "registry" when name == "catalog" && caller.Role == Roles.Operator => [All],
        _ => [],
    };

    private static bool Covers(Caller caller, string repository, string[] needed) =>
        Grant(caller, "repository", repository, needed).Count == needed.Length;

    private static bool InNamespace(Caller caller, string repository) => repository.StartsWith(caller.Name + "/", StringComparison.Ordinal);

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
