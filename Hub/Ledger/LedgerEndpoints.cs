using HealthTrain.Hub.Identity;
using HealthTrain.Trains.Protocol;
using HealthTrain.Trains.Protocol.Ledger;

namespace HealthTrain.Hub.Ledger;

/// <summary>Read access to the provenance ledger for every authenticated identity: heads, entries, proofs, the hub's key.</summary>
public static class LedgerEndpoints
{
    /// <summary>Most entries one request returns.</summary>
    public const int MaxEntriesPerPage = 1000;

    public static void MapLedgerEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/ledger").RequireAuthorization("authenticated");
        group.MapGet("/head", (long? treeSize, LedgerStore ledger) =>
            treeSize is not { } size ? Results.Ok(ledger.Head())
            : ledger.HeadAt(size) is { } head ? Results.Ok(head)
            : Results.NotFound(new ApiError($"the hub signed no tree head of size {size}")));
        group.MapGet("/key", (LedgerSigner signer) => new LedgerKey(signer.KeyId, signer.PublicKeyPem));
        group.MapGet("/entries", (long? from, int? count, LedgerStore ledger) =>
        {
            if (from is not { } start || start < 0) return Results.BadRequest(new ApiError("'from' must be an entry index, 0 or more"));
            if (count is not { } n || n < 1 || n > MaxEntriesPerPage) return Results.BadRequest(new ApiError($"'count' must be 1 to {MaxEntriesPerPage}"));
            return Results.Ok(ledger.Entries(start, n));
        });
        group.MapGet("/proof/inclusion", (long? index, long? treeSize, LedgerStore ledger) =>
            index is null || treeSize is null
                ? Results.BadRequest(new ApiError("give 'index' and 'treeSize'"))
                : BadArgumentAsBadRequest(() => ledger.InclusionProof(index.Value, treeSize.Value)));
        group.MapGet("/proof/consistency", (long? from, long? to, LedgerStore ledger) =>
            from is null || to is null
                ? Results.BadRequest(new ApiError("give 'from' and 'to' (tree sizes)"))
                : BadArgumentAsBadRequest(() => ledger.ConsistencyProof(from.Value, to.Value)));

        // A station's receipts of its own entries, from the index after the last one it holds.
        app.MapGet("/api/station/receipts", (long? after, int? count, HttpContext http, StationReceipts receipts) =>
            count is < 1 or > StationReceipts.MaxPerPage
                ? Results.BadRequest(new ApiError($"'count' must be 1 to {StationReceipts.MaxPerPage}"))
                : Results.Ok(receipts.List(http.User.Caller().Id, after ?? -1, count ?? StationReceipts.MaxPerPage)))
            .RequireAuthorization(Roles.Station);
    }

    private static IResult BadArgumentAsBadRequest<T>(Func<T> proof)
    {
        try
        {
            return Results.Ok(proof());
        }
        catch (ArgumentException e)
        {
            // The store's message says which bound was crossed and what the ledger holds.
            return Results.BadRequest(new ApiError(e.Message));
        }
    }
}
