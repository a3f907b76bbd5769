using System.Reflection;
using System.Text.Json;
using HealthTrain.Trains.Protocol.Models;
using HealthTrain.Trains.Sdk;
using HealthTrain.Trains.Sdk.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace HealthTrain.Trains.Torch;

/// <summary>
/// What a training train built on TorchSharp sees of its station: the round, parameters, views and image collections
/// (through <see cref="TrainContext"/>), the global model loaded into a module by tensor name, and the update and
/// metrics it writes. Every station of a run calls <see cref="Seed"/> with the same round seed, so a model initialised
/// without a global model starts from the same weights everywhere.
/// </summary>
public sealed class TorchTrainContext
{
    /// <summary>Logical name of the train.json a train embeds (see the example csproj files); its tensors are checked against the model.</summary>
    public const string ManifestResource = "train.json";

    private TorchTrainContext(TrainContext context, RoundInfo round, IReadOnlyList<TensorShape>? declared)
    {
        Context = context;
        Round = round;
        DeclaredTensors = declared;
    }

    /// <summary>Reads the round from the station's mounts (or <c>HEALTHTRAIN_INPUT</c>/<c>HEALTHTRAIN_OUTPUT</c>) and the tensors the train declares.</summary>
    /// <param name="trainAssembly">The assembly embedding train.json as <see cref="ManifestResource"/>; the entry assembly when null.</param>
    public static TorchTrainContext FromEnvironment(Assembly? trainAssembly = null) => Create(TrainContext.FromEnvironment(), trainAssembly);

    /// <summary>As <see cref="FromEnvironment"/>, over the given folders.</summary>
    public static TorchTrainContext Create(TrainContext context, Assembly? trainAssembly = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        var round = context.ReadRound();
        // The container's CPU quota, not the host's cores: more threads than that only contend.
        torch.set_num_threads(Math.Max(1, Environment.ProcessorCount));
        return new TorchTrainContext(context, round, ReadDeclaredTensors(trainAssembly ?? Assembly.GetEntryAssembly()));
    }

    public TrainContext Context { get; }
    public RoundInfo Round { get; }
    public TrainParameters Parameters => Context.Parameters;

    /// <summary>The tensors train.json declares (name, shape), or null when the train embeds no train.json.</summary>
    public IReadOnlyList<TensorShape>? DeclaredTensors { get; }

    /// <summary>Seeds torch's generators (and returns a .NET <see cref="Random"/>) from the round's seed plus <paramref name="offset"/>.</summary>
    public Random Seed(long offset = 0)
    {
        var seed = unchecked(Round.Seed + offset);
        torch.manual_seed(seed);
        torch.random.manual_seed(seed);
        return new Random(unchecked((int)(seed ^ (seed >> 32))));
    }

    /// <summary>
    /// The manifest's tensor name for a state_dict key: manifest names are <c>[a-z][a-z0-9_]*</c>, so the dots of
    /// nested modules become '_' (<c>conv1.weight</c> is <c>conv1_weight</c>).
    /// </summary>
    public static string TensorName(string stateKey) => stateKey.Replace('.', '_');

    /// <summary>The module's state keyed by manifest tensor names; two keys that map to one name are an error.</summary>
    public static Dictionary<string, Tensor> NamedState(nn.Module module)
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (key, t) in module.state_dict())
            if (!state.TryAdd(TensorName(key), t))
                throw new InvalidOperationException($"state keys '{key}' and another map to the same tensor name '{TensorName(key)}': rename a module");
        return state;
    }

    /// <summary>
    /// Copies the global model into <paramref name="module"/>'s state by tensor name (<see cref="TensorName"/>); false (and
    /// the module untouched) when there is none. The global model must hold exactly the module's tensors, float32, with the same shapes.
    /// </summary>
    public bool LoadGlobalModel(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var document = Context.ReadGlobalModel();
        if (document is null) return false;
        var state = NamedState(module);
        var problems = new List<string>();
        foreach (var info in document.Header.Tensors)
        {
            if (!state.TryGetValue(info.Name, out var target)) problems.Add($"'{info.Name}' is not a tensor of the model");
            else if (info.Dtype != "float32") problems.Add($"'{info.Name}' is {info.Dtype}, expected float32");
            else if (!info.Shape.SequenceEqual(target.shape)) problems.Add($"'{info.Name}' has shape [{string.Join(", ", info.Shape)}], the model's is [{string.Join(", ", target.shape)}]");
        }
        foreach (var name in state.Keys)
            if (document.Header.Find(name) is null) problems.Add($"the model's tensor '{name}' is missing");
        if (problems.Count > 0)
            throw new TrainInputException($"{TrainContext.GlobalModelPath} does not fit the model: {string.Join("; ", problems)}");
        using (no_grad())
            foreach (var (name, target) in state)
                target.copy_(tensor(document.Float32(name), dtype: float32).reshape(target.shape));
        return true;
    }

    /// <summary>A detached copy of the module's parameters: the global weights the proximal term pulls towards.</summary>
    public static Dictionary<string, Tensor> Snapshot(nn.Module module) =>
        module.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone());

    /// <summary>
    /// FedProx's proximal term (μ/2)·‖w − w_global‖² over the module's trainable parameters, or null when the round's
    /// strategy asks for none. Add it to the loss before <c>backward()</c>.
    /// </summary>
    public Tensor? ProximalTerm(nn.Module module, IReadOnlyDictionary<string, Tensor> globalWeights)
    {
        var mu = Round.ProximalWeight;
        if (mu == 0) return null;
        Tensor? sum = null;
        foreach (var (name, p) in module.named_parameters())
        {
            if (!p.requires_grad) continue;
            var d = (p - globalWeights[name]).pow(2).sum();
            sum = sum is null ? d : sum + d;
        }
        return sum is null ? null : sum * (mu / 2);
    }

    /// <summary>The module's state as float32 safetensors named by <see cref="TensorName"/>, in state order; checked against the declared tensors when train.json is embedded.</summary>
    public IReadOnlyList<SafeTensor> UpdateTensors(nn.Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        var tensors = new List<SafeTensor>();
        foreach (var (name, t) in NamedState(module))
        {
            using var values = t.detach().to(CPU).to(float32).contiguous().flatten();
            tensors.Add(SafeTensors.Float32(name, t.shape, values.data<float>().ToArray()));
        }
        if (DeclaredTensors is { } declared)
        {
            var have = tensors.Select(t => new TensorShape(t.Name, t.Shape)).ToList();
            var missing = declared.Where(d => !have.Any(h => h.Matches(d))).Select(d => d.ToString()).ToList();
            var extra = have.Where(h => !declared.Any(d => d.Matches(h))).Select(h => h.ToString()).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new InvalidOperationException(
                    $"the model's tensors differ from train.json's outputs.tensors: missing [{string.Join(", ", missing)}], undeclared [{string.Join(", ", extra)}]");
        }
        return tensors;
    }

    /// <summary>Writes the module's weights as <c>/output/update.safetensors</c>.</summary>
    public string WriteUpdate(nn.Module module) => Context.WriteUpdate(UpdateTensors(module));

    /// <summary>Writes <c>/output/metrics.json</c>.</summary>
    public string WriteMetrics(long samples, IReadOnlyDictionary<string, double> metrics) =>
        Context.WriteTrainingMetrics(new TrainingMetrics { Samples = samples, Metrics = new(metrics.ToDictionary(), StringComparer.Ordinal) });

    private static IReadOnlyList<TensorShape>? ReadDeclaredTensors(Assembly? assembly)
    {
        using var stream = assembly?.GetManifestResourceStream(ManifestResource);
        if (stream is null) return null;
        using var document = JsonDocument.Parse(stream);
        if (!document.RootElement.TryGetProperty("outputs", out var outputs) || !outputs.TryGetProperty("tensors", out var tensors)) return [];
        return [.. tensors.EnumerateArray().Select(t => new TensorShape(
            t.GetProperty("name").GetString()!, [.. t.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64())]))];
    }
}

/// <summary>A tensor's name and shape, as train.json declares it.</summary>
public sealed record TensorShape(string Name, IReadOnlyList<long> Shape)
{
    public bool Matches(TensorShape other) => Name == other.Name && Shape.SequenceEqual(other.Shape);
    public override string ToString() => $"{Name}[{string.Join(", ", Shape)}]";
}
