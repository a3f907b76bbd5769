using TorchSharp;
using static TorchSharp.torch;

namespace HealthTrain.Examples.DiabetesRisk;

/// <summary>
/// Logistic regression and a small MLP in one module with one fixed set of tensors (what train.json declares):
/// logit = linear(x) + output(relu(hidden(x))). The <c>model</c> parameter picks the path that trains; the other is
/// zero from initialisation on and frozen, so it adds nothing and every round's update has the same tensors.
/// </summary>
public sealed class DiabetesRiskModel : nn.Module<Tensor, Tensor>
{
    public const int HiddenUnits = 16;

    /// <summary>The <c>model</c> parameter's values.</summary>
    public static readonly IReadOnlyList<string> Kinds = ["logistic", "mlp"];

    private readonly nn.Module<Tensor, Tensor> linear;
    private readonly nn.Module<Tensor, Tensor> hidden;
    private readonly nn.Module<Tensor, Tensor> output;

    public DiabetesRiskModel(int features) : base(nameof(DiabetesRiskModel))
    {
        linear = nn.Linear(features, 1);
        hidden = nn.Linear(features, HiddenUnits);
        output = nn.Linear(HiddenUnits, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => linear.forward(x) + output.forward(nn.functional.relu(hidden.forward(x)));

    /// <summary>Zeroes the path <paramref name="kind"/> does not use (call on a fresh model, before any global weights).</summary>
    public void ZeroUnusedPath(string kind)
    {
        using var _ = no_grad();
        foreach (var p in (kind == "logistic" ? output : linear).parameters()) p.zero_();
    }

    /// <summary>Freezes the path <paramref name="kind"/> does not use.</summary>
    public void FreezeUnusedPath(string kind)
    {
        IEnumerable<nn.Module> frozen = kind == "logistic" ? [hidden, output] : [linear];
        foreach (var module in frozen)
            foreach (var p in module.parameters()) p.requires_grad = false;
    }
}
