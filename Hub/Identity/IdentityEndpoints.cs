using System.Text.RegularExpressions;
using HealthTrain.Trains.Protocol;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Hub.Identity;

/// <summary>Operator endpoints for identities: researchers, stations and other operators.</summary>
public static partial class IdentityEndpoints
{
    [GeneratedRegex("^[a-z0-9]+(?:[-_][a-z0-9]+)*$")]
    private static partial Regex NamePattern();

    public static void MapIdentityEndpoints(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/identities").RequireAuthorization(Roles.Operator);
        group.MapGet("", (Identities identities) => identities.List());
        group.MapPost("", (IdentityRequest request, Identities identities) =>
        {
            // Names become registry namespaces, so they follow the registry's repository-name rules.
            if (!NamePattern().IsMatch(request.Name ?? "") || request.Name!.Length > 64)
                return Results.BadRequest(new ApiError($"'{request.Name}' is not a valid name: lower-case letters and digits, with single '-' or '_' between them"));
            if (!Roles.All.Contains(request.Role))
                return Results.BadRequest(new ApiError($"'{request.Role}' is not a role; expected one of: {string.Join(", ", Roles.All)}"));
            try
            {
                return Results.Created($"/api/identities/{request.Name}", identities.Create(request.Name, request.Role));
            }
            catch (SqliteException e) when (e.SqliteErrorCode == 19)
            {
                return Results.Conflict(new ApiError($"an identity named '{request.Name}' already exists"));
            }
        });
        app.MapGet("/api/whoami", (HttpContext http) => http.User.Caller()).RequireAuthorization();
    }
}
