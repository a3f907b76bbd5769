using System.Text;
using System.Text.Json;
using Dapper;
using HealthTrain.Station.Fhir;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Station.Ingestion;

/// <summary>
/// The pipeline's only database writer: upserts, quarantine rows, references to resolve later, fullUrl aliases, counters
/// and per-file progress, all in one transaction per batch; then the end-of-run reference resolution.
/// </summary>
internal sealed class IngestionWriter : IDisposable
{
    private const int PresentCacheLimit = 100_000;
    private const int HoldersPerTransaction = 500;

    private readonly SqliteConnection _connection;
    private readonly long _runId;
    private readonly FhirIngestionOptions _options;
    private readonly Dictionary<string, long> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (long Records, string? Position, bool Completed)> _touched = new(StringComparer.Ordinal);
    private readonly HashSet<string> _present = new(StringComparer.Ordinal);
    private readonly HashSet<string> _missing = new(StringComparer.Ordinal);
    private readonly SqliteCommand _exists;
    private readonly SqliteCommand _quarantine;
    private readonly SqliteCommand _pending;
    private readonly SqliteCommand _alias;
    private FhirResourceBatch? _batch;
    private int _sinceCommit;

    public IngestionWriter(SqliteConnection connection, long runId, FhirIngestionOptions options)
    {
        _connection = connection;
        _runId = runId;
        _options = options;
        _exists = Command("SELECT 1 FROM fhir_resources WHERE resource_type = @type AND id = @id", "@type", "@id");
        _quarantine = Command(
            """
            INSERT INTO ingestion_quarantine (run_id, position, category, reason, resource_type, resource_id, raw, raw_bytes, raw_truncated, quarantined_at)
            VALUES (@run, @position, @category, @reason, @type, @id, @raw, @rawBytes, @truncated, @at)
            """,
            "@run", "@position", "@category", "@reason", "@type", "@id", "@raw", "@rawBytes", "@truncated", "@at");
        _pending = Command(
            """
            INSERT OR IGNORE INTO ingestion_references (run_id, resource_type, id, reference, path, position, state)
            VALUES (@run, @type, @id, @reference, @path, @position, 'pending')
            """,
            "@run", "@type", "@id", "@reference", "@path", "@position");
        _alias = Command(
            """
            INSERT INTO ingestion_full_urls (full_url, resource_type, id) VALUES (@url, @type, @id)
            ON CONFLICT (full_url) DO UPDATE SET resource_type = excluded.resource_type, id = excluded.id
            """,
            "@url", "@type", "@id");
    }

    /// <summary>Writes one validated chunk; commits whenever a batch is full.</summary>
    public void Apply(FhirIngestion.Chunk chunk)
    {
        EnsureBatch();
        foreach (var (fullUrl, typeAndId) in chunk.Aliases ?? [])
        {
            var slash = typeAndId.IndexOf('/');
            var id = typeAndId[(slash + 1)..];
            if (ReferenceResolver.IsDerivable(fullUrl, id))
            {
                // urn:uuid:<id> of the resource with that id (Synthea's convention) resolves without an alias row.
                continue;
            }

            Execute(_alias, fullUrl, typeAndId[..slash], id);
        }

        for (var i = 0; i < chunk.Records.Count; i++)
        {
            EnsureBatch();
            var ordinal = chunk.Records[i].Ordinal;
            var result = chunk.Results[i];
            if (result.Accepted)
            {
                Write(result);
            }
            else
            {
                Quarantine(result.Position, result.Category!, result.Reason!, result.ResourceType, result.ResourceId, result.Raw, result.RawBytes);
            }

            _touched[chunk.File] = (ordinal, result.Position, false);
            if (++_sinceCommit >= _options.BatchSize)
            {
                Commit();
            }
        }

        if (chunk.EndOfFile)
        {
            var position = _touched.TryGetValue(chunk.File, out var last) ? last.Position : null;
            _touched[chunk.File] = (chunk.FileRecords, position, true);
        }
    }

    /// <summary>Makes everything written so far durable, with the progress that matches it.</summary>
    public void Commit()
    {
        if (_batch is null && _touched.Count == 0 && _counters.Count == 0)
        {
            return;
        }

        EnsureBatch();
        var transaction = _batch!.Transaction;
        foreach (var (file, (records, position, completed)) in _touched)
        {
            _connection.Execute(
                """
                INSERT INTO ingestion_progress (run_id, file, records_committed, last_position, completed)
                VALUES (@run, @file, @records, @position, @completed)
                ON CONFLICT (run_id, file) DO UPDATE SET
                    records_committed = excluded.records_committed,
                    last_position     = excluded.last_position,
                    completed         = excluded.completed
                """,
                new { run = _runId, file, records, position, completed = completed ? 1 : 0 },
                transaction);
        }

        foreach (var (counter, delta) in _counters)
        {
            _connection.Execute(
                """
                INSERT INTO ingestion_counts (run_id, counter, value) VALUES (@run, @counter, @delta)
                ON CONFLICT (run_id, counter) DO UPDATE SET value = value + excluded.value
                """,
                new { run = _runId, counter, delta },
                transaction);
        }

        _connection.Execute(
            "UPDATE ingestion_runs SET updated_at = @now WHERE run_id = @run",
            new { now = DateTimeOffset.UtcNow.ToString("O"), run = _runId },
            transaction);
        _batch.Commit();
        _batch.Dispose();
        _batch = null;
        _touched.Clear();
        _counters.Clear();
        _sinceCommit = 0;
    }

    /// <summary>
    /// The end of the run: resolves every reference that was pending (in batches of holders, each a transaction), rewrites
    /// urn and conditional references that resolved to <c>Type/id</c>, quarantines resources whose references can never
    /// resolve, and leaves the rest as dangling (or quarantines them, per the policy).
    /// </summary>
    public void ResolveReferences(CancellationToken cancellationToken)
    {
        var resolver = new ReferenceResolver(_connection);
        var rewriter = new BundleReferenceRewriter();
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            EnsureBatch();
            var transaction = _batch!.Transaction;
            var holders = _connection.Query<(string Type, string Id)>(
                """
                SELECT DISTINCT resource_type, id FROM ingestion_references
                WHERE run_id = @run AND state = 'pending' ORDER BY resource_type, id LIMIT @limit
                """,
                new { run = _runId, limit = HoldersPerTransaction },
                transaction).ToList();
            if (holders.Count == 0)
            {
                Commit();
                return;
            }

            foreach (var (type, id) in holders)
            {
                ResolveHolder(type, id, resolver, rewriter, transaction);
            }

            Commit();
        }
    }

    public void Dispose()
    {
        // Without Commit, the open batch rolls back: the next run resumes from the last commit.
        _batch?.Dispose();
        _batch = null;
        _exists.Dispose();
        _quarantine.Dispose();
        _pending.Dispose();
        _alias.Dispose();
    }

    private void Write(ValidatedRecord result)
    {
        var row = result.Row;
        _batch!.Upsert(row);
        var key = row.ResourceType + "/" + row.Id;
        Remember(key);
        Count("ingested:" + row.ResourceType);
        var references = result.References ?? [];
        Count("refs:checked", references.Count);
        Count("refs:not-checked", result.ReferencesNotChecked);
        foreach (var reference in references)
        {
            if (reference.TypeAndId is { } local && (_present.Contains(local) || (!_missing.Contains(local) && Exists(local))))
            {
                continue;
            }

            Execute(_pending, _runId, row.ResourceType, row.Id, reference.Reference, reference.Path, result.Position);
        }
    }

    private bool Exists(string typeAndId)
    {
        var slash = typeAndId.IndexOf('/');
        _exists.Parameters[0].Value = typeAndId[..slash];
        _exists.Parameters[1].Value = typeAndId[(slash + 1)..];
        if (_exists.ExecuteScalar() is null)
        {
            // Not there yet: later references to it skip the query until it is written.
            if (_missing.Count >= PresentCacheLimit)
            {
                _missing.Clear();
            }

            _missing.Add(typeAndId);
            return false;
        }

        Remember(typeAndId);
        return true;
    }

    private void Remember(string typeAndId)
    {
        if (_present.Count >= PresentCacheLimit)
        {
            _present.Clear();
        }

        _present.Add(typeAndId);
        _missing.Remove(typeAndId);
    }

    private void Quarantine(string position, string category, string reason, string? type, string? id, string? raw, long rawBytes)
    {
        var truncated = raw is not null && Encoding.UTF8.GetByteCount(raw) < rawBytes;
        Execute(
            _quarantine,
            _runId,
            position,
            category,
            reason,
            type,
            id,
            raw,
            rawBytes,
            truncated ? 1 : 0,
            DateTimeOffset.UtcNow.ToString("O"));
        Count("quarantined:" + category);
    }

    private void ResolveHolder(string type, string id, ReferenceResolver resolver, BundleReferenceRewriter rewriter, SqliteTransaction transaction)
    {
        var references = _connection.Query<(string Reference, string Path, string Position)>(
            "SELECT reference, path, position FROM ingestion_references WHERE run_id = @run AND state = 'pending' AND resource_type = @type AND id = @id",
            new { run = _runId, type, id },
            transaction).ToList();
        var stored = _connection.QueryFirstOrDefault<(string Json, string LastUpdated)?>(
            "SELECT json, last_updated FROM fhir_resources WHERE resource_type = @type AND id = @id", new { type, id }, transaction);
        var position = references.Count > 0 ? references[0].Position : $"{type}/{id}";
        if (stored is not { } resource)
        {
            DeleteReferences(type, id, transaction);
            return;
        }

        var rewrites = new Dictionary<string, string>(StringComparer.Ordinal);
        var dangling = new List<(string Reference, string Path, string Reason)>();
        foreach (var (reference, path, _) in references)
        {
            var resolution = resolver.Resolve(reference, transaction);
            if (resolution.TypeAndId is null && resolution.Broken)
            {
                QuarantineStored(type, id, position, resource.Json, QuarantineCategory.BrokenReference, $"{position}: broken reference '{reference}' at {path}: {resolution.Reason}", transaction);
                return;
            }

            if (resolution.TypeAndId is { } target && target != reference)
            {
                rewrites[reference] = target;
            }

            if (!resolution.Exists)
            {
                dangling.Add((resolution.TypeAndId ?? reference, path, resolution.Reason));
            }
        }

        if (dangling.Count > 0 && _options.DanglingReferences == DanglingReferencePolicy.Quarantine)
        {
            var (reference, path, reason) = dangling[0];
            var more = dangling.Count > 1 ? $" (and {dangling.Count - 1} more)" : "";
            QuarantineStored(type, id, position, resource.Json, QuarantineCategory.DanglingReference, $"{position}: dangling reference '{reference}' at {path}: {reason}{more}", transaction);
            return;
        }

        if (rewrites.Count > 0
            && rewriter.Rewrite(Encoding.UTF8.GetBytes(resource.Json), rewrites, resource.LastUpdated) is { } row)
        {
            _batch!.Upsert(row);
            Count("refs:rewritten", rewrites.Count);
        }

        DeleteReferences(type, id, transaction);
        foreach (var (reference, path, _) in dangling)
        {
            _connection.Execute(
                "INSERT OR IGNORE INTO ingestion_references (run_id, resource_type, id, reference, path, position, state) VALUES (@run, @type, @id, @reference, @path, @position, 'dangling')",
                new { run = _runId, type, id, reference, path, position },
                transaction);
        }

        Count("refs:dangling", dangling.Count);
    }

    private void QuarantineStored(string type, string id, string position, string json, string category, string reason, SqliteTransaction transaction)
    {
        var bytes = Encoding.UTF8.GetByteCount(json);
        var raw = bytes <= _options.QuarantineTextBytes ? json : json[..Math.Min(json.Length, _options.QuarantineTextBytes / 3)];
        Quarantine(position, category, reason, type, id, raw, bytes);
        _connection.Execute("DELETE FROM fhir_resources WHERE resource_type = @type AND id = @id", new { type, id }, transaction);
        _present.Remove(type + "/" + id);
        Count("ingested:" + type, -1);
        DeleteReferences(type, id, transaction);
    }

    private void DeleteReferences(string type, string id, SqliteTransaction transaction) =>
        _connection.Execute(
            "DELETE FROM ingestion_references WHERE run_id = @run AND resource_type = @type AND id = @id AND state = 'pending'",
            new { run = _runId, type, id },
            transaction);

    private void Count(string counter, long delta = 1)
    {
        if (delta != 0)
        {
            _counters[counter] = _counters.GetValueOrDefault(counter) + delta;
        }
    }

    private void EnsureBatch()
    {
        if (_batch is not null)
        {
            return;
        }

        _batch = FhirStore.BeginBatch(_connection);
        foreach (var command in (ReadOnlySpan<SqliteCommand>)[_exists, _quarantine, _pending, _alias])
        {
            command.Transaction = _batch.Transaction;
        }
    }

    private SqliteCommand Command(string sql, params string[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        return command;
    }

    private static void Execute(SqliteCommand command, params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i] ?? DBNull.Value;
        }

        command.ExecuteNonQuery();
    }
}

/// <summary>How a reference resolved at the end of the run.</summary>
/// <param name="TypeAndId">The resource it names, when known (a urn or conditional reference resolved, or a Type/id as written).</param>
/// <param name="Exists">That resource is in the store.</param>
/// <param name="Broken">It can never resolve (a urn no bundle entry defines).</param>
/// <param name="Reason">Why it did not resolve.</param>
internal readonly record struct Resolution(string? TypeAndId, bool Exists, bool Broken, string Reason);

/// <summary>Resolves references against the whole store and the fullUrl aliases, with a bounded cache.</summary>
internal sealed class ReferenceResolver(SqliteConnection connection)
{
    private const int CacheLimit = 100_000;
    private readonly Dictionary<string, Resolution> _cache = new(StringComparer.Ordinal);

    private SqliteTransaction? _transaction;

    /// <summary>Resolves with queries in <paramref name="transaction"/> (the connection's open one).</summary>
    public Resolution Resolve(string reference, SqliteTransaction transaction)
    {
        if (_cache.TryGetValue(reference, out var cached))
        {
            return cached;
        }

        _transaction = transaction;
        var resolution = ResolveUncached(reference);
        if (_cache.Count >= CacheLimit)
        {
            _cache.Clear();
        }

        _cache[reference] = resolution;
        return resolution;
    }

    private Resolution ResolveUncached(string reference)
    {
        if (reference.StartsWith("urn:", StringComparison.OrdinalIgnoreCase))
        {
            var alias = connection.QueryFirstOrDefault<(string Type, string Id)?>(
                "SELECT resource_type, id FROM ingestion_full_urls WHERE full_url = @reference", new { reference }, _transaction);
            if (alias is not { } target)
            {
                // No alias row: urn:uuid:<id> names the one stored resource with that id, if there is exactly one.
                var id = reference["urn:uuid:".Length..];
                var types = reference.StartsWith("urn:uuid:", StringComparison.OrdinalIgnoreCase) ? TypesWithId(id) : [];
                return types.Count switch
                {
                    1 => new Resolution(types[0] + "/" + id, true, false, ""),
                    0 => new Resolution(null, false, true, $"no bundle entry with fullUrl {reference} was ingested (in this run or an earlier one) and no stored resource has id {id}"),
                    _ => new Resolution(null, false, true, $"{reference} is ambiguous: {string.Join(", ", types.Select(t => t + "/" + id))} are stored"),
                };
            }

            var typeAndId = target.Type + "/" + target.Id;
            return Exists(target.Type, target.Id)
                ? new Resolution(typeAndId, true, false, "")
                : new Resolution(typeAndId, false, false, $"{reference} is the fullUrl of {typeAndId}, which is not in the store");
        }

        var query = reference.IndexOf('?');
        if (query > 0)
        {
            return ResolveConditional(reference, reference[..query], reference[(query + 1)..]);
        }

        var local = FhirReference.ToTypeAndId(reference) ?? reference;
        var slash = local.IndexOf('/');
        return slash > 0 && Exists(local[..slash], local[(slash + 1)..])
            ? new Resolution(local, true, false, "")
            : new Resolution(local, false, false, $"{local} is not in the store");
    }

    /// <summary><c>Type?identifier=[system|]value</c>: the one stored resource of that type with that identifier.</summary>
    private Resolution ResolveConditional(string reference, string type, string query)
    {
        var parameters = query.Split('&');
        if (parameters.Length != 1 || !parameters[0].StartsWith("identifier=", StringComparison.Ordinal))
        {
            return new Resolution(null, false, false, "only conditional references by identifier are resolved");
        }

        var token = Uri.UnescapeDataString(parameters[0]["identifier=".Length..]);
        var bar = token.IndexOf('|');
        var system = bar >= 0 ? token[..bar] : null;
        var value = bar >= 0 ? token[(bar + 1)..] : token;
        if (value.Length == 0)
        {
            return new Resolution(null, false, false, "the identifier has no value");
        }

        var matches = new List<string>();
        foreach (var (id, json) in connection.Query<(string Id, string Json)>(
            "SELECT id, json FROM fhir_resources WHERE resource_type = @type AND instr(json, @value) > 0", new { type, value }, _transaction))
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.TryGetProperty("identifier", out var identifiers)
                && identifiers.ValueKind == JsonValueKind.Array
                && identifiers.EnumerateArray().Any(i => Matches(i, system, value)))
            {
                matches.Add(id);
            }
        }

        return matches.Count switch
        {
            1 => new Resolution(type + "/" + matches[0], true, false, ""),
            0 => new Resolution(null, false, false, $"no {type} with identifier {token} is in the store"),
            _ => new Resolution(null, false, false, $"{matches.Count} {type} resources have identifier {token}"),
        };
    }

    private static bool Matches(JsonElement identifier, string? system, string value) =>
        identifier.ValueKind == JsonValueKind.Object
        && identifier.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String && v.GetString() == value
        && (system is null
            || (system.Length == 0 && !identifier.TryGetProperty("system", out _))
            || (identifier.TryGetProperty("system", out var s) && s.ValueKind == JsonValueKind.String && s.GetString() == system));

    /// <summary>True when <paramref name="fullUrl"/> is <c>urn:uuid:</c> followed by the resource's own id.</summary>
    public static bool IsDerivable(string fullUrl, string id) =>
        fullUrl.Length == "urn:uuid:".Length + id.Length
        && fullUrl.StartsWith("urn:uuid:", StringComparison.OrdinalIgnoreCase)
        && fullUrl.EndsWith(id, StringComparison.Ordinal);

    /// <summary>The resource types that have a stored resource with <paramref name="id"/> (one primary-key probe per R4 type).</summary>
    private List<string> TypesWithId(string id) =>
        id.Length is 0 or > 64
            ? []
            : connection.Query<string>(TypesWithIdSql, new { id }, _transaction).ToList();

    private static readonly string TypesWithIdSql =
        "SELECT resource_type FROM fhir_resources WHERE id = @id AND resource_type IN ("
        + string.Join(", ", Hl7.Fhir.Model.ModelInfo.SupportedResources.Where(t => t.All(char.IsAsciiLetter)).Select(t => $"'{t}'"))
        + ")";

    private bool Exists(string type, string id) =>
        connection.ExecuteScalar<long?>("SELECT 1 FROM fhir_resources WHERE resource_type = @type AND id = @id", new { type, id }, _transaction) is not null;
}
