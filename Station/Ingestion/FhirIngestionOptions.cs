namespace HealthTrain.Station.Ingestion;

/// <summary>How <see cref="FhirIngestion"/> runs.</summary>
public sealed record FhirIngestionOptions
{
    /// <summary>16 MiB: larger single resources are quarantined (a 50 MB NDJSON line is refused without being buffered).</summary>
    public const int DefaultMaxResourceBytes = 16 << 20;

    /// <summary>64 KiB of a quarantined record's text is kept beside the reason.</summary>
    public const int DefaultQuarantineTextBytes = 64 << 10;

    /// <summary>Records (ingested or quarantined) per transaction; progress is committed with each.</summary>
    public int BatchSize { get; init; } = 1000;

    /// <summary>Resources larger than this many UTF-8 bytes are quarantined as too large.</summary>
    public int MaxResourceBytes { get; init; } = DefaultMaxResourceBytes;

    /// <summary>How much of a quarantined record's text is stored.</summary>
    public int QuarantineTextBytes { get; init; } = DefaultQuarantineTextBytes;

    /// <summary>What happens to resources whose <c>Type/id</c> references still point at nothing when the run ends.</summary>
    public DanglingReferencePolicy DanglingReferences { get; init; } = DanglingReferencePolicy.Keep;

    /// <summary>Resume an unfinished run of the same format and input (same files, sizes and times) instead of starting over.</summary>
    public bool Resume { get; init; } = true;

    /// <summary>Threads validating records (the Firely parse is the heaviest step); reading and writing have a thread each.</summary>
    public int Workers { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Receives a progress line now and then (records so far, rate); null for silence.</summary>
    public Action<string>? Progress { get; init; }
}
