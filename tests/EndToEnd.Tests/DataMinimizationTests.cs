using HealthTrain.Cli.Hub;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.EndToEnd.Tests;

/// <summary>A station whose policy allows views only refuses a train that asks for whole resources, before it runs.</summary>
[Collection(FederationCollection.Name)]
public sealed class DataMinimizationTests(FederationFixture f)
{
    [Fact]
    public async Task A_views_only_station_refuses_raw_resource_input_and_the_others_run_it()
    {
        await f.Federation.AddStationAsync("views-only-clinic", null, settings: ["AllowRawResources=false"]);
        var train = await f.Federation.Publisher(f.Docker, f.Alice).PushAsync(f.Misbehaving.Reference);
        var run = await f.RunToEndAsync(train, ["hospital-a", "views-only-clinic"]);

        Assert.Equal(RunStates.Completed, run.State);
        var refused = run.Jobs.Single(j => j.Station == "views-only-clinic");
        Assert.Equal(JobStates.Failed, refused.State);
        Assert.Contains("inspect: this station does not give trains raw FHIR resources ($.inputs[0] asks for every Patient)", refused.Error);
        Assert.True(refused.Timings is null || refused.Timings.RunMs == 0); // never started
        var ran = run.Jobs.Single(j => j.Station == "hospital-a");
        var input = Assert.Single(ran.Inputs!);
        Assert.Equal(("Patient", InputKinds.FhirResources, (long)f.Slices.Parts[0].PatientCount), (input.Name, input.Kind, input.Rows));
    }
}
