using Spectre.Console;
using Spectre.Console.Rendering;

namespace HealthTrain.Cli.Output;

/// <summary>
/// One column of a <see cref="TextTable"/>: its header for the rich table, and how its cell sits in a plain line
/// (the literal text around it and a composite-format alignment, so the plain lines stay exactly as scripts read them).
/// </summary>
/// <param name="Header">The rich table's column header.</param>
public sealed record TextColumn(string Header)
{
    /// <summary>Literal text before the cell in a plain line.</summary>
    public string Before { get; init; } = "";

    /// <summary>Literal text after the cell in a plain line.</summary>
    public string After { get; init; } = "";

    /// <summary>As in <c>{x,N}</c>: positive pads on the left (right-aligned), negative on the right, 0 not at all.</summary>
    public int Align { get; init; }

    /// <summary>An empty cell leaves out <see cref="Before"/> and <see cref="After"/> too (optional suffixes like ", 2 job(s) waiting").</summary>
    public bool OmitEmpty { get; init; }

    /// <summary>A Spectre style for a cell's value in the rich table (e.g. red for "failed"), or null for none.</summary>
    public Func<string, string?>? Style { get; init; }

    /// <summary>The cell as it appears in a plain line.</summary>
    public string Plain(string cell)
    {
        if (OmitEmpty && cell.Length == 0) return "";
        var padded = Align > 0 ? cell.PadLeft(Align) : Align < 0 ? cell.PadRight(-Align) : cell;
        return Before + padded + After;
    }
}

/// <summary>
/// Rows of cells with one description for both renderers: plain lines for scripts, or a Spectre table on an interactive
/// terminal. Commands fill it once; <see cref="Write"/> picks the renderer.
/// </summary>
public sealed class TextTable(IReadOnlyList<TextColumn> columns, string? emptyText = null)
{
    private readonly List<string[]> _rows = [];

    public IReadOnlyList<TextColumn> Columns => columns;

    public IReadOnlyList<string[]> Rows => _rows;

    /// <summary>Adds a row; there must be one cell per column.</summary>
    public TextTable Add(params string[] cells)
    {
        if (cells.Length != columns.Count)
            throw new ArgumentException($"a row of this table has {columns.Count} cells, not {cells.Length}", nameof(cells));
        _rows.Add(cells);
        return this;
    }

    /// <summary>One row as a plain line.</summary>
    public string PlainLine(IReadOnlyList<string> cells) => string.Concat(columns.Select((c, i) => c.Plain(cells[i])));

    /// <summary>Every row as plain lines, or the empty text (if any) when there are none.</summary>
    public void WritePlain(TextWriter output)
    {
        if (_rows.Count == 0 && emptyText is not null) output.WriteLine(emptyText);
        foreach (var row in _rows) output.WriteLine(PlainLine(row));
    }

    /// <summary>The rows as a Spectre table (or the empty text).</summary>
    public IRenderable ToRenderable()
    {
        if (_rows.Count == 0) return new Text(emptyText ?? "");
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var c in columns)
        {
            var column = new Spectre.Console.TableColumn(c.Header);
            if (c.Align > 0) column.RightAligned();
            table.AddColumn(column);
        }
        foreach (var row in _rows)
            table.AddRow(row.Select((cell, i) => (IRenderable)Cell(columns[i], cell)).ToArray());
        return table;
    }

    /// <summary>Plain lines to <paramref name="output"/> without a terminal, else the rich table to <paramref name="terminal"/>.</summary>
    public void Write(TextWriter output, IAnsiConsole? terminal)
    {
        if (terminal is null) WritePlain(output);
        else terminal.Write(ToRenderable());
    }

    private static Text Cell(TextColumn column, string cell)
    {
        var style = column.Style?.Invoke(cell);
        return style is null ? new Text(cell.Trim()) : new Text(cell.Trim(), Spectre.Console.Style.Parse(style));
    }
}

/// <summary>Colours for the states the CLI shows, so a failure stands out in a rich table.</summary>
public static class StateStyles
{
    /// <summary>Red for failures and refusals, green for success, yellow for work in progress, grey for waiting.</summary>
    public static string? For(string state) => state.Trim() switch
    {
        "failed" or "FAIL" or "rejected" or "REVOKED" => "red",
        "succeeded" or "completed" or "ok" or "published" or "approved" or "checked" => "green",
        "running" or "claimed" => "yellow",
        "queued" or "awaiting-approval" or "pending" or "submitted" => "grey",
        _ => null,
    };
}
