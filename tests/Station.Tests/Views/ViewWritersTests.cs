using System.Text;
using HealthTrain.Station.Views;
using Parquet;

namespace HealthTrain.Station.Tests.Views;

public sealed class ViewWritersTests
{
    private static readonly ViewColumn[] Columns =
    [
        new("text", "x", "string", false, null),
        new("n", "y", "integer", false, null),
    ];

    [Fact]
    public void Csv_quotes_separators_quotes_line_breaks_and_edge_spaces_only()
    {
        var stream = new MemoryStream();
        var rows = new[] { "plain", "a,b", "say \"hi\"", "two\nlines", " padded", "", null }.Select(t => new object?[] { t, 1L });

        Assert.Equal(7, CsvViewWriter.Write(Columns, rows, stream));
        Assert.Equal(
            "text,n\r\nplain,1\r\n\"a,b\",1\r\n\"say \"\"hi\"\"\",1\r\n\"two\nlines\",1\r\n\" padded\",1\r\n,1\r\n,1\r\n",
            Encoding.UTF8.GetString(stream.ToArray()));
    }

    [Fact]
    public void Ndjson_writes_one_object_per_line_without_escaping_non_ascii()
    {
        var stream = new MemoryStream();
        NdjsonViewWriter.Write(Columns, [["Zoë <3", 7L], [null, null]], stream);
        Assert.Equal("{\"text\":\"Zoë <3\",\"n\":7}\n{\"text\":null,\"n\":null}\n", Encoding.UTF8.GetString(stream.ToArray()));
    }

    [Fact]
    public async Task Parquet_writes_one_row_group_per_block_of_rows()
    {
        var path = Path.Combine(Path.GetTempPath(), $"ht-views-{Guid.NewGuid():N}.parquet");
        try
        {
            var total = ParquetViewWriter.RowGroupSize + 3;
            await using (var file = File.Create(path))
            {
                var rows = Enumerable.Range(0, total).Select(i => new object?[] { $"r{i}", (long)i });
                Assert.Equal(total, await ParquetViewWriter.WriteAsync(Columns, rows, file));
            }

            await using var reader = await ParquetReader.CreateAsync(path);
            Assert.Equal(2, reader.RowGroupCount);
            Assert.Equal([ParquetViewWriter.RowGroupSize, 3L], reader.RowGroups.Select(g => g.RowCount));
            using var last = reader.OpenRowGroupReader(1);
            var numbers = new long?[3];
            await last.ReadAsync(reader.Schema.GetDataFields()[1], numbers.AsMemory());
            Assert.Equal([total - 3L, total - 2L, total - 1L], numbers);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Parquet_of_no_rows_still_carries_the_schema()
    {
        var stream = new MemoryStream();
        Assert.Equal(0, await ParquetViewWriter.WriteAsync(Columns, [], stream));

        stream.Position = 0;
        await using var reader = await ParquetReader.CreateAsync(stream);
        Assert.Equal(["text", "n"], reader.Schema.GetDataFields().Select(f => f.Name));
        Assert.Equal(0, reader.RowGroups.Sum(g => g.RowCount));
    }

    [Fact]
    public async Task Parquet_refuses_a_value_of_another_type_than_declared()
    {
        var error = await Assert.ThrowsAsync<ViewEvaluationException>(() =>
            ParquetViewWriter.WriteAsync(Columns, [["a", "not a number"]], new MemoryStream()));
        Assert.Contains("column 'n' is declared integer", error.Message);
    }
}
