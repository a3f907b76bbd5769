using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Approval;

/// <summary>
/// The station operator's approval API: the queue with each image's inspection report, and approve or reject with a
/// reason. Every call needs an operator token; decisions are recorded under that operator's name.
/// </summary>
public static class ApprovalEndpoints
{
    public static void MapApprovalEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/approvals").RequireStationOperator();
        group.MapGet("", (string? state, ApprovalStore approvals) =>
            state is null or ApprovalStates.Pending or ApprovalStates.Approved or ApprovalStates.Rejected
                ? Results.Ok(approvals.List(state))
                : Results.BadRequest(new ApiError($"'{state}' is not a state: pending, approved or rejected")));
        group.MapGet("/{digest}", (string digest, ApprovalStore approvals) =>
            approvals.Find(digest, withReport: true) is { } approval ? Results.Ok(approval) : Results.NotFound(new ApiError($"no image {digest} was inspected here")));
        group.MapGet("/{digest}/history", (string digest, ApprovalStore approvals) =>
            approvals.History(digest).Select(h => new { decision = h.Decision, decidedBy = h.DecidedBy, decidedAt = h.DecidedAt, reason = h.Reason }));
        group.MapPost("/{digest}/approve", (string digest, ApprovalDecision? decision, HttpContext http, ApprovalStore approvals) =>
            Decide(digest, ApprovalStates.Approved, decision?.Reason, http, approvals));
        group.MapPost("/{digest}/reject", (string digest, ApprovalDecision decision, HttpContext http, ApprovalStore approvals) =>
            string.IsNullOrWhiteSpace(decision.Reason)
                ? Results.BadRequest(new ApiError("a rejection needs a reason: the researcher and the ledger read it"))
                : Decide(digest, ApprovalStates.Rejected, decision.Reason, http, approvals));
    }

    private static IResult Decide(string digest, string state, string? reason, HttpContext http, ApprovalStore approvals)
    {
        var by = StationOperators.NameOf(http);
        return approvals.Decide(digest, state, by, reason?.Trim()) is { } decided
            ? Results.Ok(decided)
            : Results.NotFound(new ApiError($"no image {digest} was inspected here"));
    }
}
