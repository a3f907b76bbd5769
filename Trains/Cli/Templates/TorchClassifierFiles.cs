namespace HealthTrain.Cli.Templates;

/// <summary>
/// The <c>torch-classifier</c> template's files: logistic regression over the shared <c>patient_demographics</c> view
/// (age and sex predict death), written so that replacing the view, the features and the label is all a new train needs.
/// </summary>
internal static class TorchClassifierFiles
{
    public const string TrainJson = """
        {
          "format": 1,
          "name": "__NAME__",
          "version": "0.1.0",
          "kind": "training",
          "description": "Logistic regression trained federated with TorchSharp (scaffolded from the torch-classifier template: age and sex predict death).",
          "authors": ["Your name"],
          "inputs": [
            { "kind": "view", "name": "patients", "view": "patient_demographics" }
          ],
          "outputs": {
            "tensors": [
              { "name": "linear_weight", "shape": [1, 2], "dtype": "float32" },
              { "name": "linear_bias", "shape": [1], "dtype": "float32" }
            ]
          },
          "parameters": [
            { "name": "epochs", "type": "integer", "default": 5 },
            { "name": "batch_size", "type": "integer", "default": 32 },
            { "name": "learning_rate", "type": "number", "default": 0.05 },
            { "name": "held_out_fraction", "type": "number", "default": 0.2 },
            { "name": "reference_date", "type": "date", "default": "2021-06-01" }
          ],
          "resources": { "cpus": 1, "memoryMb": 1024, "timeoutSeconds": 600 }
        }

        """;

    public const string Csproj = """
        <Project Sdk="Microsoft.NET.Sdk">
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <AssemblyName>__ASSEMBLY__</AssemblyName>
            <RootNamespace>__NAMESPACE__</RootNamespace>
          </PropertyGroup>
          <ItemGroup>
            <!-- Referencing TorchSharp (through the torch SDK) makes `train build` use healthtrain/torch-runtime. -->
            <ProjectReference Include="__TORCHSDK__" />
          </ItemGroup>
          <ItemGroup>
            <!-- libtorch's natives (~500 MB) only when publishing for linux-x64: host builds never load them. -->
            <PackageReference Include="libtorch-cpu-linux-x64" Condition="'$(RuntimeIdentifier)' == 'linux-x64'" />
            <!-- The train checks its model's tensors against what it declares. -->
            <EmbeddedResource Include="train.json" LogicalName="train.json" />
          </ItemGroup>
        </Project>

        """;

    public const string Program = """
        using System.Globalization;
        using System.Text.Json;
        using HealthTrain.Trains.Sdk;
        using HealthTrain.Trains.Sdk.Training;
        using HealthTrain.Trains.Torch;
        using TorchSharp;

        // One round at one station: evaluate the received model, train on the local training part, write the update
        // and the metrics (docs/train-contract.md, "Training trains").
        try
        {
            var context = TorchTrainContext.FromEnvironment();
            var p = context.Parameters;
            var options = new BinaryTrainingOptions(p.GetInt("epochs"), p.GetInt("batch_size"), p.GetDouble("learning_rate")).Checked();
            var referenceDate = p.GetDate("reference_date");

            // Features with a fixed scaling (the same at every station) and the label, one example per patient.
            var examples = new List<(string Key, float[] X, int Y)>();
            foreach (var row in context.Context.ReadView("patients"))
            {
                var key = Text(row, "patient_key");
                if (key is null || Text(row, "birth_date") is not { Length: >= 10 } birth) continue;
                var died = Text(row, "deceased_date_time") is not null || (row.TryGetProperty("deceased", out var d) && d.ValueKind == JsonValueKind.True);
                var age = (referenceDate.DayNumber - DateOnly.ParseExact(birth[..10], "yyyy-MM-dd", CultureInfo.InvariantCulture).DayNumber) / 365.25;
                var male = Text(row, "gender") == "male" ? 1f : 0f;
                examples.Add((key, [(float)((age - 50) / 20), male], died ? 1 : 0));
            }
            var (training, heldOut) = HeldOutSplit.Split(examples, e => e.Key, context.Round.Seed, p.GetDouble("held_out_fraction"));

            var random = context.Seed();
            using var model = torch.nn.Sequential(("linear", torch.nn.Linear(2, 1)));
            context.LoadGlobalModel(model);

            var metrics = new Dictionary<string, double>();
            var heldOutLabels = heldOut.Select(e => e.Y).ToList();
            ClassificationMetrics.AddBinary(metrics, "global",
                BinaryClassifierTraining.Predict(model, i => TorchData.Features([.. i.Select(k => heldOut[k].X)], 2), heldOut.Count), heldOutLabels);
            BinaryClassifierTraining.Train(model, context, i => TorchData.Features([.. i.Select(k => training[k].X)], 2),
                [.. training.Select(e => e.Y)], options, random);
            ClassificationMetrics.AddBinary(metrics, "local",
                BinaryClassifierTraining.Predict(model, i => TorchData.Features([.. i.Select(k => heldOut[k].X)], 2), heldOut.Count), heldOutLabels);

            context.WriteUpdate(model);
            context.WriteMetrics(training.Count, metrics);
            Console.WriteLine($"__NAME__: round {context.Round.Round}: {training.Count} training, {heldOut.Count} held-out patients");
            return 0;
        }
        catch (TrainInputException e)
        {
            Console.Error.WriteLine($"__NAME__: invalid input: {e.Message}");
            return 2;
        }

        static string? Text(JsonElement row, string column) =>
            row.TryGetProperty(column, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        """;
}
