using System.Security.Cryptography;
using System.Text;

namespace HealthTrain.Station.Approval;

/// <summary>The station's operators and their API tokens; decisions are recorded under the name whose token made them.</summary>
public sealed class StationOperators
{
    private readonly Dictionary<string, byte[]> tokenHashes;

    public StationOperators(StationOptions options, ILogger<StationOperators> log)
    {
        var operators = new Dictionary<string, string>(options.Operators);
        if (operators.Count == 0)
        {
            var file = Path.Combine(options.DataDir, "operator.token");
            if (!File.Exists(file))
            {
                using var stream = new FileStream(file, new FileStreamOptions
                    { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite });
                using var writer = new StreamWriter(stream);
                writer.Write("st_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24)));
                log.LogInformation("station operator token written to {File}", file);
            }
            operators["operator"] = File.ReadAllText(file).Trim();
        }
        foreach (var (name, token) in operators)
            if (string.IsNullOrWhiteSpace(name) || token.Length < 16)
                throw new InvalidOperationException($"Station:Operators: '{name}' needs a name and a token of at least 16 characters");
        tokenHashes = operators.ToDictionary(o => o.Key, o => Hash(o.Value));
    }

    /// <summary>The operator whose token this is, or null.</summary>
    public string? Authenticate(string? token)
    {
        if (string.IsNullOrEmpty(token)) return null;
        var hash = Hash(token);
        return tokenHashes.FirstOrDefault(o => CryptographicOperations.FixedTimeEquals(o.Value, hash)).Key;
    }

    /// <summary>True while <paramref name="name"/> is one of the station's operators (a console session ends when its operator is removed).</summary>
    public bool Has(string name) => tokenHashes.ContainsKey(name);

    private static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    private const string OperatorItem = "station-operator";

    /// <summary>The operator who made the request, once <see cref="StationOperatorEndpoints.RequireStationOperator"/> let it through.</summary>
    public static string NameOf(HttpContext http) => (string)http.Items[OperatorItem]!;

    internal static void SetName(HttpContext http, string name) => http.Items[OperatorItem] = name;
}

/// <summary>The station's own API is for its operators only: every call needs an operator token.</summary>
public static class StationOperatorEndpoints
{
    /// <summary>Refuses, with 401, calls to the group that carry no valid operator token; records the operator's name for the rest.</summary>
    public static RouteGroupBuilder RequireStationOperator(this RouteGroupBuilder group) => group.AddEndpointFilter(async (context, next) =>
    {
        var http = context.HttpContext;
        var header = http.Request.Headers.Authorization.ToString();
        var name = header.StartsWith("Bearer ", StringComparison.Ordinal)
            ? http.RequestServices.GetRequiredService<StationOperators>().Authenticate(header["Bearer ".Length..].Trim())
            : null;
        if (name is null) return Results.Json(new HealthTrain.Trains.Protocol.ApiError("a station operator token is required (Authorization: Bearer …)"), statusCode: StatusCodes.Status401Unauthorized);
        StationOperators.SetName(http, name);
        return await next(context);
    });
}
