using Parquet;
using Parquet.Schema;

namespace HealthTrain.Station.Views;

/// <summary>Writes rows as Apache Parquet, typed by each column's declared FHIR type, one row group per block of rows.</summary>
/// <remarks>
/// boolean maps to BOOLEAN; integer, positiveInt, unsignedInt and integer64 to INT64; decimal to DECIMAL(38,18);
/// every other type, and every collection column (as a JSON array), to a UTF-8 string. Dates and times stay
/// strings so that their FHIR precision (a year, a day) survives. Rows are buffered only up to
/// <see cref="RowGroupSize"/> at a time.
/// </remarks>
public static class ParquetViewWriter
{
    /// <summary>Rows per row group: the most rows held in memory while writing.</summary>
    public const int RowGroupSize = 50_000;

    private enum Kind { Boolean, Integer, Decimal, Text }

    /// <summary>Writes every row to <paramref name="destination"/> (writable and seekable); returns the number of rows.</summary>
    public static async Task<long> WriteAsync(
        IReadOnlyList<ViewColumn> columns, IEnumerable<object?[]> rows, Stream destination, CancellationToken cancellationToken = default)
    {
        var kinds = columns.Select(KindOf).ToArray();
        var fields = columns.Select((c, i) => Field(c.Name, kinds[i])).ToArray();
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), destination, cancellationToken: cancellationToken);

        long count = 0;
        var block = new List<object?[]>(Math.Min(RowGroupSize, 1024));
        foreach (var row in rows)
        {
            block.Add(row);
            count++;
            if (block.Count == RowGroupSize)
            {
                await WriteRowGroupAsync(writer, columns, kinds, fields, block, cancellationToken);
                block.Clear();
            }
        }

        // A file with no rows still has one (empty) row group, so readers see the schema and zero rows.
        if (block.Count > 0 || count == 0) await WriteRowGroupAsync(writer, columns, kinds, fields, block, cancellationToken);
        return count;
    }

    private static async Task WriteRowGroupAsync(
        ParquetWriter writer, IReadOnlyList<ViewColumn> columns, Kind[] kinds, DataField[] fields, List<object?[]> block, CancellationToken cancellationToken)
    {
        using var group = writer.CreateRowGroup();
        for (var c = 0; c < fields.Length; c++)
        {
            var column = columns[c];
            switch (kinds[c])
            {
                case Kind.Boolean:
                    await group.WriteAsync<bool>(fields[c], block.Select(r => Typed<bool>(r[c], column)).ToArray(), cancellationToken: cancellationToken);
                    break;
                case Kind.Integer:
                    await group.WriteAsync<long>(fields[c], block.Select(r => Typed<long>(r[c], column)).ToArray(), cancellationToken: cancellationToken);
                    break;
                case Kind.Decimal:
                    await group.WriteAsync<decimal>(fields[c], block.Select(r => Number(r[c], column)).ToArray(), cancellationToken: cancellationToken);
                    break;
                default:
                    await group.WriteAsync(fields[c], block.Select(r => ViewRowJson.ToText(r[c])).ToArray());
                    break;
            }
        }

        group.CompleteValidate();
    }

    private static Kind KindOf(ViewColumn column) => column.Collection ? Kind.Text : column.Type switch
    {
        "boolean" => Kind.Boolean,
        "integer" or "positiveInt" or "unsignedInt" or "integer64" => Kind.Integer,
        "decimal" => Kind.Decimal,
        _ => Kind.Text,
    };

    private static DataField Field(string name, Kind kind) => kind switch
    {
        Kind.Boolean => new DataField<bool?>(name),
        Kind.Integer => new DataField<long?>(name),
        Kind.Decimal => new DecimalDataField(name, 38, 18, isNullable: true),
        _ => new DataField<string>(name, nullable: true),
    };

    private static T? Typed<T>(object? value, ViewColumn column) where T : struct => value switch
    {
        null => null,
        T typed => typed,
        _ => throw Mismatch(value, column),
    };

    // A decimal column may meet whole numbers (e.g. 2 + 3), which are still decimals in SQL.
    private static decimal? Number(object? value, ViewColumn column) => value switch
    {
        null => null,
        decimal number => number,
        long number => number,
        _ => throw Mismatch(value, column),
    };

    private static ViewEvaluationException Mismatch(object value, ViewColumn column) =>
        new($"column '{column.Name}' is declared {column.Type} but returned '{ViewRowJson.ToText(value)}'; Parquet needs the declared type");
}
