using HealthTrain.Station.Approval;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Receipts;

/// <summary>
/// The receipts of this station's own ledger entries, for its operators and for <c>healthtrain ledger verify --station</c>:
/// <c>GET /api/receipts?after=INDEX&amp;limit=N</c>, oldest first, each with the station's verdict on it.
/// </summary>
public static class ReceiptEndpoints
{
    public const int MaxLimit = 1000;

    public static void MapReceiptEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/receipts").RequireStationOperator();
        group.MapGet("", (long? after, int? limit, ReceiptStore receipts) =>
            limit is < 1 or > MaxLimit
                ? Results.BadRequest(new ApiError($"'limit' must be 1 to {MaxLimit}"))
                : Results.Ok(receipts.List(after ?? -1, limit ?? MaxLimit)));
        group.MapGet("/key", (ReceiptStore receipts) =>
            receipts.Pinned() is { } key ? Results.Ok(key) : Results.NotFound(new ApiError("no hub ledger key is pinned yet: the station has collected no receipt")));
    }
}
