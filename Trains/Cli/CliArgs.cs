namespace HealthTrain.Cli;

/// <summary>Thrown for a wrong command line; the message says what to type instead.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>A parsed command line: positional words, <c>--name value</c> options and <c>--flag</c> switches.</summary>
public sealed class CliArgs
{
    private readonly Dictionary<string, List<string>> _options = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public IReadOnlyList<string> Positional { get; }

    /// <param name="args">The words after the command.</param>
    /// <param name="flags">Options that take no value.</param>
    public CliArgs(IEnumerable<string> args, params string[] flags)
    {
        var positional = new List<string>();
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a.StartsWith("--", StringComparison.Ordinal) && a.Length > 2)
            {
                var name = a[2..];
                string value;
                var eq = name.IndexOf('=');
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                else if (flags.Contains(name)) value = "true";
                else if (i + 1 < list.Count) value = list[++i];
                else throw new UsageException($"--{name} needs a value");
                if (!_options.TryGetValue(name, out var values)) _options[name] = values = [];
                values.Add(value);
            }
            else positional.Add(a);
        }
        Positional = positional;
    }

    public string? Option(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v[^1] : null;
    }

    public IReadOnlyList<string> Options(string name)
    {
        _used.Add(name);
        return _options.TryGetValue(name, out var v) ? v : [];
    }

    public bool Flag(string name) => Option(name) is "true" or "1" or "yes";

    public string Required(int position, string what) =>
        position < Positional.Count ? Positional[position] : throw new UsageException($"missing {what}");

    /// <summary>Call after reading every option: a misspelt option is an error, not silently ignored.</summary>
    public void RejectUnknown()
    {
        var unknown = _options.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException("unknown option(s): " + string.Join(", ", unknown.Select(u => "--" + u)));
    }
}
