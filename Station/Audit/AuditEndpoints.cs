using HealthTrain.Station.Approval;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Audit;

/// <summary>The station's audit log for its operators: <c>GET /api/audit?job=&amp;train=&amp;kind=&amp;before=&amp;limit=</c>, newest first.</summary>
public static class AuditEndpoints
{
    public static void MapAuditEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGroup("/api/audit").RequireStationOperator().MapGet("", (long? job, string? train, string? kind, long? before, int? limit, StationAudit audit) =>
            limit is < 1 or > AuditFilter.MaxLimit
                ? Results.BadRequest(new ApiError($"'limit' must be 1 to {AuditFilter.MaxLimit}"))
                : Results.Ok(audit.List(new AuditFilter(job, string.IsNullOrWhiteSpace(train) ? null : train.Trim(),
                    string.IsNullOrWhiteSpace(kind) ? null : kind.Trim(), before, limit ?? 200))));
    }
}
