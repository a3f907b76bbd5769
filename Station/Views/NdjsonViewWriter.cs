using System.Text.Encodings.Web;
using System.Text.Json;

namespace HealthTrain.Station.Views;

/// <summary>Writes rows as NDJSON: one compact JSON object per line, members named and ordered as the columns.</summary>
public static class NdjsonViewWriter
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes every row to <paramref name="destination"/> as UTF-8; returns the number of rows.</summary>
    public static long Write(IReadOnlyList<ViewColumn> columns, IEnumerable<object?[]> rows, Stream destination)
    {
        using var writer = new Utf8JsonWriter(destination, Options);
        long count = 0;
        foreach (var row in rows)
        {
            ViewRowJson.WriteRow(writer, columns, row);
            writer.Flush();
            destination.WriteByte((byte)'\n');
            writer.Reset();
            count++;
        }

        return count;
    }
}
