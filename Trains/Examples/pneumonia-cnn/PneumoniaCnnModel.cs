using TorchSharp;
using static TorchSharp.torch;

namespace HealthTrain.Examples.PneumoniaCnn;

/// <summary>
/// A small CNN for 28×28 grey chest X-rays: two 3×3 convolutions (8 and 16 channels, each with ReLU and 2×2 max
/// pooling), a 32-unit hidden layer and one logit for pneumonia. About 27 000 float32 weights, no batch norm, so the
/// state is exactly the declared tensors.
/// </summary>
public sealed class PneumoniaCnnModel : nn.Module<Tensor, Tensor>
{
    public const int Side = 28;

    private readonly nn.Module<Tensor, Tensor> conv1 = nn.Conv2d(1, 8, 3, padding: 1);
    private readonly nn.Module<Tensor, Tensor> conv2 = nn.Conv2d(8, 16, 3, padding: 1);
    private readonly nn.Module<Tensor, Tensor> fc1 = nn.Linear(16 * 7 * 7, 32);
    private readonly nn.Module<Tensor, Tensor> fc2 = nn.Linear(32, 1);

    public PneumoniaCnnModel() : base(nameof(PneumoniaCnnModel)) => RegisterComponents();

    public override Tensor forward(Tensor x)
    {
        x = nn.functional.max_pool2d(nn.functional.relu(conv1.forward(x)), 2);
        x = nn.functional.max_pool2d(nn.functional.relu(conv2.forward(x)), 2);
        return fc2.forward(nn.functional.relu(fc1.forward(x.flatten(1))));
    }
}
