using System.Text;
using HealthTrain.Station.Mapping;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>The RFC 4180 reader: quoting, line breaks, encodings, errors and line numbers.</summary>
public sealed class CsvReaderTests
{
    private static List<CsvRecord> Read(string text, char delimiter = ',', int maxRecordChars = CsvReader.DefaultMaxRecordChars)
    {
        using var reader = new CsvReader(new MemoryStream(Encoding.UTF8.GetBytes(text)), delimiter, maxRecordChars);
        return reader.ReadAll().ToList();
    }

    private static List<CsvRecord> ReadBytes(byte[] bytes)
    {
        using var reader = new CsvReader(new MemoryStream(bytes));
        return reader.ReadAll().ToList();
    }

    [Fact]
    public void Plain_records_with_empty_fields()
    {
        var records = Read("a,b,c\n1,,3\n,,\n");
        Assert.Equal(3, records.Count);
        Assert.Equal(["a", "b", "c"], records[0].Fields);
        Assert.Equal(["1", "", "3"], records[1].Fields);
        Assert.Equal(["", "", ""], records[2].Fields);
        Assert.All(records, r => Assert.Null(r.Error));
        Assert.Equal([1L, 2L, 3L], records.Select(r => r.Line));
    }

    [Fact]
    public void Quoted_fields_hold_delimiters_quotes_and_line_breaks()
    {
        var records = Read("id,text\n1,\"a, b\"\n2,\"say \"\"hi\"\"\"\n3,\"two\nlines\"\n4,\"crlf\r\ninside\"\n5,\"\"\n");
        Assert.Equal(6, records.Count);
        Assert.Equal("a, b", records[1].Fields[1]);
        Assert.Equal("say \"hi\"", records[2].Fields[1]);
        Assert.Equal("two\nlines", records[3].Fields[1]);
        Assert.Equal("crlf\r\ninside", records[4].Fields[1]);
        Assert.Equal("", records[5].Fields[1]);
        Assert.All(records, r => Assert.Null(r.Error));

        // Line numbers are physical lines: record 4 starts after the two-line record 3.
        Assert.Equal([1L, 2L, 3L, 4L, 6L, 8L], records.Select(r => r.Line));
    }

    [Theory]
    [InlineData("a,b\r\n1,2\r\n")]
    [InlineData("a,b\n1,2\n")]
    [InlineData("a,b\r1,2\r")]
    [InlineData("a,b\n1,2")]
    public void Any_line_ending_and_no_final_line_break(string text)
    {
        var records = Read(text);
        Assert.Equal(2, records.Count);
        Assert.Equal(["1", "2"], records[1].Fields);
        Assert.Equal(2L, records[1].Line);
    }

    [Fact]
    public void Utf8_byte_order_mark_is_skipped()
    {
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(Encoding.UTF8.GetBytes("Id,NAME\n1,Jerónimo\n")).ToArray();
        var records = ReadBytes(bytes);
        Assert.Equal("Id", records[0].Fields[0]);
        Assert.Equal("Jerónimo", records[1].Fields[1]);
    }

    [Fact]
    public void Utf16_with_byte_order_mark_is_decoded()
    {
        var bytes = Encoding.Unicode.GetPreamble().Concat(Encoding.Unicode.GetBytes("Id,NAME\n1,Zoë\n")).ToArray();
        var records = ReadBytes(bytes);
        Assert.Equal("Id", records[0].Fields[0]);
        Assert.Equal("Zoë", records[1].Fields[1]);
    }

    [Fact]
    public void Blank_lines_are_skipped()
    {
        var records = Read("a\n\n1\r\n\r\n2\n\n");
        Assert.Equal(["a", "1", "2"], records.Select(r => r.Fields[0]));
        Assert.Equal([1L, 3L, 5L], records.Select(r => r.Line));
    }

    [Fact]
    public void Unterminated_quote_is_an_error_that_ends_the_file()
    {
        var records = Read("a,b\n1,\"never closed\n2,3\n");
        Assert.Equal(2, records.Count);
        Assert.Contains("unterminated quoted field starting on line 2", records[1].Error);
    }

    [Fact]
    public void Text_after_a_closing_quote_marks_the_record_and_reading_continues()
    {
        var records = Read("a,b\n1,\"x\"y\n2,ok\n");
        Assert.Equal(3, records.Count);
        Assert.Contains("after a closing quote", records[1].Error);
        Assert.Null(records[2].Error);
        Assert.Equal(["2", "ok"], records[2].Fields);
    }

    [Fact]
    public void Quote_inside_an_unquoted_field_is_data()
    {
        var records = Read("a,b\n5'10\",x\n");
        Assert.Equal("5'10\"", records[1].Fields[0]);
        Assert.Null(records[1].Error);
    }

    [Fact]
    public void Other_delimiters()
    {
        var records = Read("a\tb\n\"x\ty\"\tz\n", '\t');
        Assert.Equal(["x\ty", "z"], records[1].Fields);
    }

    [Fact]
    public void Fields_longer_than_the_read_buffer()
    {
        var longPlain = new string('p', 200_000);
        var longQuoted = string.Concat(Enumerable.Repeat("q,\"\n", 50_000));
        var escaped = longQuoted.Replace("\"", "\"\"", StringComparison.Ordinal);
        var records = Read($"a,b\n{longPlain},\"{escaped}\"\nend,1\n");
        Assert.Equal(3, records.Count);
        Assert.Equal(longPlain, records[1].Fields[0]);
        Assert.Equal(longQuoted, records[1].Fields[1]);
        Assert.Equal(["end", "1"], records[2].Fields);
        Assert.Equal(3L + 50_000, records[2].Line);
    }

    [Fact]
    public void A_runaway_record_is_cut_off_with_an_error()
    {
        var records = Read("a\n\"" + new string('x', 5000), maxRecordChars: 1000);
        Assert.Equal(2, records.Count);
        Assert.Contains("longer than 1000 characters", records[1].Error);
    }

    [Fact]
    public void Synthea_descriptions_with_quoted_commas()
    {
        // Synthea replaces commas with spaces, but other exporters quote; both must come through.
        var records = Read("DATE,CODE,DESCRIPTION\n2020-01-01,140,\"Influenza, seasonal, injectable\"\n");
        Assert.Equal("Influenza, seasonal, injectable", records[1].Fields[2]);
    }
}
