namespace HealthTrain.Station.Views;

/// <summary>Writes a view's rows in a chosen <see cref="ViewOutputFormat"/>.</summary>
public static class ViewOutput
{
    /// <summary>Writes every row to <paramref name="destination"/>; returns the number of rows.</summary>
    public static async Task<long> WriteAsync(
        IReadOnlyList<ViewColumn> columns, IEnumerable<object?[]> rows, ViewOutputFormat format, Stream destination, CancellationToken cancellationToken = default) =>
        format switch
        {
            ViewOutputFormat.Csv => CsvViewWriter.Write(columns, rows, destination),
            ViewOutputFormat.Ndjson => NdjsonViewWriter.Write(columns, rows, destination),
            ViewOutputFormat.Parquet => await ParquetViewWriter.WriteAsync(columns, rows, destination, cancellationToken),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown output format"),
        };
}
