// Run only as a smoke test of the torch runtime image: loads libtorch and prints the sum of a 2×2 tensor of ones (4).
using static TorchSharp.torch;

Console.WriteLine($"torch ok: ones(2,2).sum() = {ones(2, 2).sum().item<float>()}");
return 0;
