using HealthTrain.Trains.Protocol;

namespace HealthTrain.Cli.Images;

/// <summary>
/// A train published self-contained, with the split between files the runtime image already has and
/// the train's own files (<see cref="DeltaFiles"/>), which are all its image layer carries.
/// Disposing deletes the publish output.
/// </summary>
public sealed class TrainPublish : IDisposable
{
    internal TrainPublish(
        string trainDirectory, string outputDirectory, TrainManifest manifest, string manifestJson, string assemblyName,
        BaseImages baseImages, string baseReference, TimeSpan publishTime, IReadOnlyList<string> deltaFiles, long deltaBytes, int totalFiles, long totalBytes)
    {
        TrainDirectory = trainDirectory;
        OutputDirectory = outputDirectory;
        Manifest = manifest;
        ManifestJson = manifestJson;
        AssemblyName = assemblyName;
        BaseImages = baseImages;
        BaseReference = baseReference;
        PublishTime = publishTime;
        DeltaFiles = deltaFiles;
        DeltaBytes = deltaBytes;
        TotalFiles = totalFiles;
        TotalBytes = totalBytes;
    }

    public string TrainDirectory { get; }
    public string OutputDirectory { get; }
    public TrainManifest Manifest { get; }

    /// <summary>train.json compacted to one line: the manifest label's value.</summary>
    public string ManifestJson { get; }

    /// <summary>The train's executable name; the entrypoint is <c>/app/&lt;AssemblyName&gt;</c>.</summary>
    public string AssemblyName { get; }

    /// <summary>The base images the train is built on.</summary>
    public BaseImages BaseImages { get; }

    /// <summary>
    /// The image the train's layer goes on: <see cref="BaseImages.RuntimeReference"/>, or <c>healthtrain/torch-runtime</c>
    /// for a train that publishes TorchSharp.
    /// </summary>
    public string BaseReference { get; }

    public TimeSpan PublishTime { get; }

    /// <summary>Relative paths ('/'-separated) of the published files the base image (<see cref="BaseReference"/>) does not already hold byte for byte.</summary>
    public IReadOnlyList<string> DeltaFiles { get; }

    public long DeltaBytes { get; }

    /// <summary>Every file of the full self-contained publish.</summary>
    public int TotalFiles { get; }

    public long TotalBytes { get; }

    public void Dispose()
    {
        if (Directory.Exists(OutputDirectory)) Directory.Delete(OutputDirectory, recursive: true);
    }
}
