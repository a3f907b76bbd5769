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
}
