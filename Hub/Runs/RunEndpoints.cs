using HealthTrain.Hub.Identity;
using HealthTrain.Hub.Trains;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Hub.Runs;

/// <summary>Researchers start runs and read their progress and pooled results.</summary>
public static class RunEndpoints
{
    public static void MapRunEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/runs").RequireAuthorization(Roles.Researcher);
        group.MapPost("", Create);
        group.MapGet("", (HttpContext http, RunStore runs) => runs.List(http.User.Caller()));
        group.MapGet("/{id:long}", (long id, HttpContext http, RunStore runs) =>
            runs.Find(id, http.User.Caller()) is { } run ? Results.Ok(run) : Results.NotFound(new ApiError($"no run {id}")));
        group.MapGet("/{id:long}/prov", (long id, HttpContext http, RunProvenance provenance) =>
            provenance.Export(id, http.User.Caller()) is { } prov ? Results.Text(prov.ToJsonString(), "application/json") : Results.NotFound(new ApiError($"no run {id}")));
        group.MapGet("/{id:long}/results", (long id, HttpContext http, RunStore runs) =>
            runs.Results(id, http.User.Caller()) is { } results ? Results.Ok(results) : Results.NotFound(new ApiError($"no run {id}")));
        app.MapGet("/api/stations", (Identities identities) => identities.List().Where(i => i.Role == Roles.Station))
            .RequireAuthorization(Roles.Researcher);
    }

    private static IResult Create(RunRequest request, HttpContext http, TrainCatalog trains, Identities identities, RunStore runs)
    {
        var caller = http.User.Caller();
        if (trains.Find(request.TrainId, caller) is not { } train)
            return Results.NotFound(new ApiError($"no train {request.TrainId}"));
        var errors = new List<ValidationError>();
        if (train.State != TrainStates.Published)
            errors.Add(new("$.trainId", $"train {train.Id} ({train.Repository}:{train.Version}) is {train.State}, not published; only published trains can run"));
        if (train.Kind != TrainKinds.Statistics)
            errors.Add(new("$.trainId", $"'{train.Name}' is a {train.Kind} train; this hub runs statistics trains only so far"));
        if (request.Rounds != 1 && train.Kind == TrainKinds.Statistics)
            errors.Add(new("$.rounds", "a statistics train runs in exactly one round"));
        var stationIds = new List<long>();
        if (request.Stations is null || request.Stations.Count == 0)
            errors.Add(new("$.stations", "name at least one station"));
        else
            for (var i = 0; i < request.Stations.Count; i++)
            {
                var s = identities.FindByName(request.Stations[i]);
                if (s is null || s.Role != Roles.Station) errors.Add(new($"$.stations[{i}]", $"'{request.Stations[i]}' is not a station of this hub"));
                else if (stationIds.Contains(s.Id)) errors.Add(new($"$.stations[{i}]", $"'{request.Stations[i]}' is named twice"));
                else stationIds.Add(s.Id);
            }
        var (parameters, parameterErrors) = ParameterValues.Resolve(train.Manifest, request.Parameters);
        errors.AddRange(parameterErrors);
        if (errors.Count > 0) return Results.BadRequest(new ApiError("the run request is invalid", errors));

        var id = runs.Create(caller, train, stationIds, request.Rounds, parameters);
        return Results.Created($"/api/runs/{id}", runs.Find(id, caller));
    }
}
