using System.Text;
using System.Text.Json.Nodes;
using HealthTrain.Station.Fhir;
using HealthTrain.Station.Views;
using Parquet;
using Parquet.Schema;

namespace HealthTrain.Station.Tests.Views;

public sealed class ViewsRunCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ht-views-run-").FullName;

    public ViewsRunCommandTests()
    {
        var store = new FhirStore(StorePath);
        using var batch = store.BeginBatch();
        Upsert(batch, "Patient", "p1", """{"resourceType":"Patient","id":"p1","active":true,"birthDate":"1970-06","name":[{"family":"Smith","given":["Ann","Bo"]},{"family":"Jones, \"Jr\""}]}""");
        Upsert(batch, "Patient", "p2", """{"resourceType":"Patient","id":"p2","active":false,"name":[{"family":"Brown"}]}""");
        Upsert(batch, "Patient", "p3", """{"resourceType":"Patient","id":"p3"}""");
        Upsert(batch, "Observation", "o1", """{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"valueQuantity":{"value":2.5}}""");
        batch.Commit();

        File.WriteAllText(ViewPath, """
            {"resourceType":"ViewDefinition","name":"patient_names","resource":"Patient","select":[
              {"column":[{"name":"id","path":"id","type":"id"},{"name":"active","path":"active","type":"boolean"},
                         {"name":"born","path":"birthDate","type":"date"},{"name":"names","path":"name.count()","type":"integer"},
                         {"name":"score","path":"name.count() * 1.5","type":"decimal"}]},
              {"forEachOrNull":"name","column":[{"name":"family","path":"family","type":"string"},
                                                {"name":"given","path":"given","type":"string","collection":true}]}]}
            """);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string StorePath => Path.Combine(_dir, "fhir.db");

    private string ViewPath => Path.Combine(_dir, "view.json");

    private static void Upsert(FhirResourceBatch batch, string type, string id, string json) =>
        batch.Upsert(new FhirResourceRow(type, id, "2024-01-01T00:00:00Z", null, json));

    private static async Task<(int Exit, string Stderr, string Stdout)> Run(params string[] args)
    {
        var (stderr, rows) = (new StringWriter(), new MemoryStream());
        var exit = await ViewsCommand.RunAsync(["run", .. args], new StringWriter(), stderr, rows);
        return (exit, stderr.ToString(), Encoding.UTF8.GetString(rows.ToArray()));
    }

    [Fact]
    public async Task Csv_has_a_header_typed_text_and_quotes_where_needed()
    {
        var output = Path.Combine(_dir, "out.csv");
        var (exit, stderr, _) = await Run(ViewPath, "--store", StorePath, "--out", output);

        Assert.Equal(0, exit);
        Assert.Contains("4 rows, 7 columns (csv)", stderr);
        Assert.Equal(""""
            id,active,born,names,score,family,given
            p1,true,1970-06,2,3.0,Smith,"[""Ann"",""Bo""]"
            p1,true,1970-06,2,3.0,"Jones, ""Jr""",[]
            p2,false,,1,1.5,Brown,[]
            p3,,,0,0.0,,[]

            """".ReplaceLineEndings("\r\n"), await File.ReadAllTextAsync(output));
        Assert.False(File.Exists(output + ".partial"));
    }

    [Fact]
    public async Task Ndjson_goes_to_standard_output_with_json_types()
    {
        var (exit, _, stdout) = await Run(ViewPath, "--store", StorePath, "--format", "ndjson");

        Assert.Equal(0, exit);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Equal("""{"id":"p1","active":true,"born":"1970-06","names":2,"score":3.0,"family":"Smith","given":["Ann","Bo"]}""", lines[0]);
        Assert.Equal("""{"id":"p3","active":null,"born":null,"names":0,"score":0.0,"family":null,"given":[]}""", lines[3]);
        Assert.All(lines, line => Assert.IsType<JsonObject>(JsonNode.Parse(line)));
    }

    [Fact]
    public async Task Parquet_columns_are_typed_by_the_declared_fhir_types()
    {
        var output = Path.Combine(_dir, "names.parquet");
        var (exit, stderr, _) = await Run(ViewPath, "--store", StorePath, "--out", output);
        Assert.True(exit == 0, stderr);

        await using var reader = await ParquetReader.CreateAsync(output);
        var fields = reader.Schema.GetDataFields();
        Assert.Equal(["id", "active", "born", "names", "score", "family", "given"], fields.Select(f => f.Name));
        // Parquet.Net reads UTF-8 string columns as ReadOnlyMemory<char>.
        Assert.Equal(
            [typeof(string), typeof(bool), typeof(string), typeof(long), typeof(decimal), typeof(string), typeof(string)],
            fields.Select(f => f.ClrType == typeof(ReadOnlyMemory<char>) ? typeof(string) : f.ClrType));

        using var group = reader.OpenRowGroupReader(0);
        Assert.Equal(4, group.RowCount);
        var ids = new string?[4];
        await group.ReadAsync(fields[0], ids.AsMemory());
        var active = new bool?[4];
        await group.ReadAsync(fields[1], active.AsMemory());
        var names = new long?[4];
        await group.ReadAsync(fields[3], names.AsMemory());
        var score = new decimal?[4];
        await group.ReadAsync(fields[4], score.AsMemory());
        var given = new string?[4];
        await group.ReadAsync(fields[6], given.AsMemory());

        Assert.Equal(["p1", "p1", "p2", "p3"], ids.Select(id => id ?? "(null)"));
        Assert.Equal([true, true, false, null], active);
        Assert.Equal([2L, 2L, 1L, 0L], names);
        Assert.Equal([3.0m, 3.0m, 1.5m, 0m], score);
        Assert.Equal(["[\"Ann\",\"Bo\"]", "[]", "[]", "[]"], given.Select(g => g ?? "(null)"));
    }

    [Fact]
    public async Task An_invalid_view_fails_with_its_problems()
    {
        File.WriteAllText(ViewPath, """{"resource":"Patient","select":[{"column":[{"name":"id","path":"id.("}]}]}""");
        var (exit, stderr, _) = await Run(ViewPath, "--store", StorePath);

        Assert.Equal(1, exit);
        Assert.Contains("$.select[0].column[0].path", stderr);
    }

    [Fact]
    public async Task An_evaluation_error_leaves_no_output_file()
    {
        File.WriteAllText(ViewPath, """{"resource":"Patient","select":[{"column":[{"name":"family","path":"name.family"}]}]}""");
        var output = Path.Combine(_dir, "out.csv");
        var (exit, stderr, _) = await Run(ViewPath, "--store", StorePath, "--out", output);

        Assert.Equal(1, exit);
        Assert.Contains("Patient/p1: column 'family'", stderr);
        Assert.Empty(Directory.GetFiles(_dir, "out.csv*"));
    }

    [Fact]
    public async Task A_missing_store_is_not_created()
    {
        var missing = Path.Combine(_dir, "nope", "fhir.db");
        var (exit, stderr, _) = await Run(ViewPath, "--store", missing);

        Assert.Equal(2, exit);
        Assert.Contains("no FHIR store", stderr);
        Assert.False(Directory.Exists(Path.GetDirectoryName(missing)));
    }

    [Theory]
    [InlineData("--format", "parquet")]        // parquet needs a file
    [InlineData("--format", "xlsx")]
    [InlineData("--limit", "3")]
    public async Task Bad_options_are_usage_errors(string option, string value)
    {
        var (exit, stderr, _) = await Run(ViewPath, "--store", StorePath, option, value);
        Assert.Equal(2, exit);
        Assert.Contains("usage:", stderr);
    }

    [Fact]
    public async Task The_station_runs_the_views_verb_and_leaves_other_arguments_to_the_web_host()
    {
        Assert.Null(await StationCommands.TryRunAsync([]));
        Assert.Null(await StationCommands.TryRunAsync(["--urls", "http://127.0.0.1:5000"]));
        Assert.Equal(2, await StationCommands.TryRunAsync(["views"]));
    }
}
