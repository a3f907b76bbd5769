using HealthTrain.Station.Fhir;

namespace HealthTrain.Station.Jobs;

/// <summary>What the station is doing now, shown on its local status endpoint.</summary>
public sealed class StationStatus
{
    private readonly Lock _gate = new();

    public string State { get; private set; } = "starting";
    public FhirLoadReport? LastLoad { get; private set; }
    public long JobsSucceeded { get; private set; }
    public long JobsFailed { get; private set; }
    public string? LastError { get; private set; }

    public void Set(string state, string? error = null)
    {
        lock (_gate) { State = state; if (error is not null) LastError = error; }
    }

    public void Loaded(FhirLoadReport report)
    {
        lock (_gate) LastLoad = report;
    }

    public void JobDone(bool succeeded)
    {
        lock (_gate) { if (succeeded) JobsSucceeded++; else JobsFailed++; }
    }
}
