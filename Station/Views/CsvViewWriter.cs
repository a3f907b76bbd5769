using System.Text;

namespace HealthTrain.Station.Views;

/// <summary>Writes rows as CSV: a header of column names, then one line per row; null is an empty field.</summary>
public static class CsvViewWriter
{
    /// <summary>Writes a header and every row to <paramref name="destination"/> as UTF-8; returns the number of rows.</summary>
    public static long Write(IReadOnlyList<ViewColumn> columns, IEnumerable<object?[]> rows, Stream destination)
    {
        using var writer = new StreamWriter(destination, new UTF8Encoding(false), 64 * 1024, leaveOpen: true) { NewLine = "\r\n" };
        writer.WriteLine(string.Join(",", columns.Select(c => Field(c.Name))));
        long count = 0;
        var fields = new string[columns.Count];
        foreach (var row in rows)
        {
            for (var i = 0; i < fields.Length; i++)
            {
                fields[i] = Field(ViewRowJson.ToText(row[i]));
            }

            writer.WriteLine(string.Join(",", fields));
            count++;
        }

        return count;
    }

    /// <summary>Quotes a field when it holds a separator, a quote, a line break or edge spaces, doubling inner quotes.</summary>
    internal static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        var needsQuotes = value.AsSpan().IndexOfAny(",\"\r\n") >= 0 || value[0] == ' ' || value[^1] == ' ';
        return needsQuotes ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
    }
}
