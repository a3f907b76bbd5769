using System.Text.Json;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Views;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Models;

namespace HealthTrain.Station.Jobs;

/// <summary>
/// One declared input as the station will deliver it: for a view, the compiled view and exactly its columns; for an
/// image collection, the station's file that holds it.
/// </summary>
public sealed record PlannedInput(TrainInput Declared, string Name, string ResourceType, CompiledView? View, IReadOnlyList<string> Columns)
{
    /// <summary>For an image collection: the station's collection file.</summary>
    public string? CollectionFile { get; init; }

    /// <summary>Where the train finds it, relative to <c>/input</c>.</summary>
    public string RelativePath =>
        CollectionFile is not null ? Path.Combine("images", Name + ".safetensors")
        : View is null ? Path.Combine("fhir", ResourceType + ".ndjson")
        : Path.Combine("views", Name + "." + (Declared.Format ?? "ndjson"));
}

/// <summary>
/// Data minimization at the station: decides, before anything runs, what each declared input will expose (the view's
/// columns, or — where the station's policy allows raw records — whole resources), then writes exactly that to <c>/input</c>.
/// </summary>
public sealed class TrainInputs(FhirStore store, StationOptions options)
{
    /// <summary>The inputs the train will get; refuses views that do not compile and raw resources the policy forbids.</summary>
    public IReadOnlyList<PlannedInput> Plan(TrainManifest manifest)
    {
        var planned = new List<PlannedInput>();
        for (var i = 0; i < manifest.Inputs.Count; i++)
        {
            var input = manifest.Inputs[i];
            if (input.Kind == InputKinds.FhirResources)
            {
                if (!options.AllowRawResources)
                    throw new JobFailedException("inspect",
                        $"this station does not give trains raw FHIR resources ($.inputs[{i}] asks for every {input.ResourceType}); declare a view of the columns the train needs");
                planned.Add(new PlannedInput(input, input.ResourceType!, input.ResourceType!, null, ["(whole resource)"]));
                continue;
            }
            if (input.Kind == InputKinds.ImageCollection)
            {
                if (!options.ImageCollections.TryGetValue(input.Name!, out var file))
                    throw new JobFailedException("inspect",
                        $"this station holds no image collection '{input.Name}' ($.inputs[{i}]); its operator lists collections in Station:ImageCollections");
                planned.Add(new PlannedInput(input, input.Name!, "images", null, [ImageCollection.ImagesTensor, ImageCollection.LabelsTensor]) { CollectionFile = file });
                continue;
            }
            if (input.Kind != InputKinds.View)
                throw new JobFailedException("inspect", $"this station cannot deliver inputs of kind '{input.Kind}' ($.inputs[{i}])");
            CompiledView view;
            try
            {
                view = CompiledView.Compile(input.View!.Value);
            }
            catch (Exception e) when (e is ViewDefinitionException or JsonException or ArgumentException or FormatException)
            {
                throw new JobFailedException("inspect", $"view input '{input.Name}' ($.inputs[{i}].view) cannot run: {e.Message}");
            }
            planned.Add(new PlannedInput(input, input.Name!, view.ResourceType, view, [.. view.Columns.Select(c => c.Name)]));
        }
        return planned;
    }

    /// <summary>Writes every planned input under <paramref name="inputDir"/> and says what went out, with row counts.</summary>
    public async Task<IReadOnlyList<JobInputSummary>> WriteAsync(string inputDir, IReadOnlyList<PlannedInput> plan, CancellationToken ct)
    {
        var summaries = new List<JobInputSummary>();
        foreach (var input in plan)
        {
            var path = Path.Combine(inputDir, input.RelativePath);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using var file = File.Create(path);
            var rows = input.CollectionFile is not null ? await CopyCollectionAsync(input.CollectionFile, file, ct)
                : input.View is null ? store.WriteNdjson(input.ResourceType, file)
                : await WriteViewAsync(input, file, ct);
            summaries.Add(new JobInputSummary(input.Name, input.Declared.Kind, input.ResourceType, input.Columns, rows));
        }
        return summaries;
    }

    /// <summary>Checks the collection file is what the contract promises, then copies it; the row count is the number of images.</summary>
    private static async Task<long> CopyCollectionAsync(string collectionFile, Stream destination, CancellationToken ct)
    {
        await using var source = File.OpenRead(collectionFile);
        ImageCollection collection;
        try
        {
            collection = ImageCollection.Read(source);
        }
        catch (Exception e) when (e is SafeTensorsException or InvalidDataException or FormatException)
        {
            throw new IOException($"the station's image collection {collectionFile} is not usable: {e.Message}", e);
        }
        source.Position = 0;
        await source.CopyToAsync(destination, ct);
        return collection.Count;
    }

    /// <summary>Bump when the view engine's output for the same view and data could change.</summary>
    private const string EngineVersion = "views-1";

    /// <summary>
    /// A view's rows depend only on the view and the store's contents, so they are kept per store generation: the next
    /// job (or round) with the same view copies the file instead of evaluating FHIRPath over every resource again.
    /// </summary>
    private async Task<long> WriteViewAsync(PlannedInput input, Stream destination, CancellationToken ct)
    {
        var format = input.Declared.Format == "csv" ? ViewOutputFormat.Csv : ViewOutputFormat.Ndjson;
        var cacheDir = Path.Combine(options.DataDir, "view-cache");
        Directory.CreateDirectory(cacheDir);
        var key = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes($"{EngineVersion}\n{format}\n{input.Declared.View!.Value.GetRawText()}")))[..32];
        var generation = store.Generation();
        var cached = Path.Combine(cacheDir, $"{key}-{generation}.{format.ToString().ToLowerInvariant()}");
        var rowsFile = cached + ".rows";
        if (!File.Exists(cached) || !File.Exists(rowsFile) || !long.TryParse(File.ReadAllText(rowsFile), out _))
        {
            foreach (var stale in Directory.EnumerateFiles(cacheDir, key + "-*")) File.Delete(stale);
            var temp = cached + ".tmp";
            long written;
            await using (var file = File.Create(temp))
                written = await ViewOutput.WriteAsync(input.View!.Columns, input.View.Evaluate(FhirStoreResources.ReadJson(store, input.ResourceType)), format, file, ct);
            // The data may have changed while the view ran: then the rows belong to no single generation and are not kept.
            if (store.Generation() == generation)
            {
                File.WriteAllText(rowsFile, written.ToString(System.Globalization.CultureInfo.InvariantCulture));
                File.Move(temp, cached, overwrite: true);
            }
            else
            {
                await using (var source = File.OpenRead(temp)) await source.CopyToAsync(destination, ct);
                File.Delete(temp);
                return written;
            }
        }
        await using (var source = File.OpenRead(cached)) await source.CopyToAsync(destination, ct);
        return long.Parse(File.ReadAllText(rowsFile), System.Globalization.CultureInfo.InvariantCulture);
    }
}
