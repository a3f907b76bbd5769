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
        if (request.Rounds != 1 && train.Kind == TrainKinds.Statistics)
            errors.Add(new("$.rounds", "a statistics train runs in exactly one round"));
        if (train.Kind == TrainKinds.Statistics && request.Training is not null)
            errors.Add(new("$.training", "a statistics train takes no training settings"));
        var training = train.Kind == TrainKinds.Training ? request.Training ?? new TrainingSettings() : null;
        if (training is not null)
        {
            if (request.Rounds is < 1 or > 10_000) errors.Add(new("$.rounds", "must be 1 to 10000"));
            foreach (var problem in Merging.RoundStrategy.Of(training).Validate()) errors.Add(new("$.training.strategy", problem));
            // Refused now rather than at the first merge: tensors the engine cannot merge.
            foreach (var problem in Merging.ModelMerger.CheckDeclaration(train.Manifest.Outputs.Tensors)) errors.Add(new("$.trainId", problem));
            var stationCount = request.Stations?.Count ?? 0;
            if (training.MinStations is { } min && (min < 1 || min > stationCount))
                errors.Add(new("$.training.minStations", $"must be 1 to the number of stations ({stationCount})"));
            if (training.MinFraction is { } fraction && !(fraction > 0 && fraction <= 1))
                errors.Add(new("$.training.minFraction", "must be in (0, 1]"));
            if (training.RoundDeadlineSeconds is <= 0) errors.Add(new("$.training.roundDeadlineSeconds", "must be positive"));
        }
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

        var id = runs.Create(caller, train, stationIds, request.Rounds, parameters, training);
        return Results.Created($"/api/runs/{id}", runs.Find(id, caller));
    }
}
