using HealthTrain.Station.Views;

namespace HealthTrain.Station.Tests.Views;

public sealed class ViewEngineTests
{
    private const string Patient = """
        {"resourceType":"Patient","id":"p1","birthDate":"1970-06","name":[{"use":"official","family":"A","given":["x","y"]},{"family":"B"}],
         "link":[{"type":"seealso","other":{"reference":"http://example.org/fhir/Patient/p2/_history/3"}},{"type":"refer","other":{"reference":"#contained"}}],
         "managingOrganization":{"reference":"Organization/o1"}}
        """;

    private static CompiledView View(string columns, string extra = "") =>
        CompiledView.Parse($$"""{"resource":"Patient"{{extra}},"select":[{"column":[{{columns}}]}]}""");

    private static object?[] SingleRow(CompiledView view, params string[] resources) => Assert.Single(view.Evaluate(resources.Length == 0 ? [Patient] : resources));

    private static object? Value(string path, string type = "string") =>
        SingleRow(View($$"""{"name":"v","path":"{{path}}","type":"{{type}}"}"""))[0];

    [Theory]
    // Calls to the view's own join/lowBoundary/getReferenceKey are rebuilt into a new expression tree:
    // every kind of node around them must keep its meaning.
    [InlineData("name.family.join(',') = 'A,B'", true)]                       // binary operator
    [InlineData("-(name.family.join('').length())", -2L)]                      // unary operator
    [InlineData("name[1].family.join()", "B")]                                 // indexer
    [InlineData("(name.family.join('-'))", "A-B")]                             // brackets
    [InlineData("{}.join(',')", "")]                                           // empty list
    [InlineData("name.where(family.join() = 'B').family", "B")]               // function argument
    [InlineData("iif(name.family.join() = 'AB', 'yes', 'no')", "yes")]        // several arguments
    [InlineData("(name.family | 'C').join(',')", "A,B,C")]                    // union
    [InlineData("name.given.join(',') != 'x' and name.exists()", true)]       // logic
    [InlineData("name.first().given.join(' ') + '!'", "x y!")]                // string concatenation
    public void Rewritten_expressions_keep_their_meaning(string path, object expected)
    {
        Assert.Equal(expected, Value(path));
    }

    [Theory]
    [InlineData("getResourceKey()", "Patient/p1")]
    [InlineData("managingOrganization.getReferenceKey()", "Organization/o1")]
    [InlineData("managingOrganization.getReferenceKey(Organization)", "Organization/o1")]
    [InlineData("managingOrganization.getReferenceKey(Patient)", null)]
    [InlineData("link.where(type = 'seealso').other.getReferenceKey(Patient)", "Patient/p2")] // absolute, versioned
    [InlineData("link.where(type = 'refer').other.getReferenceKey()", null)]                  // contained: no key
    public void Reference_keys_name_type_and_id(string path, string? expected)
    {
        Assert.Equal(expected, Value(path));
    }

    [Theory]
    [InlineData("1.587.lowBoundary()", "decimal", 1.5865)]
    [InlineData("1.587.highBoundary()", "decimal", 1.5875)]
    [InlineData("(-1.587).lowBoundary()", "decimal", -1.5875)]
    [InlineData("1.587.lowBoundary(2)", "decimal", 1.58)]
    [InlineData("1.587.highBoundary(2)", "decimal", 1.59)]
    [InlineData("1.587.lowBoundary(6)", "decimal", 1.5865)]
    [InlineData("1.lowBoundary()", "decimal", 0.5)]
    public void Decimal_boundaries_follow_fhirpath(string path, string type, double expected)
    {
        Assert.Equal((decimal)expected, Value(path, type));
    }

    [Theory]
    [InlineData("birthDate.lowBoundary()", "1970-06-01")]
    [InlineData("birthDate.highBoundary()", "1970-06-30")]
    [InlineData("birthDate.highBoundary(4)", "1970")]
    [InlineData("@2024-02.highBoundary()", "2024-02-29")]
    [InlineData("@2010-10-10T10:30:00Z.highBoundary()", "2010-10-10T10:30:00.999Z")]
    [InlineData("@2010-10-10T10:30:00+02:00.lowBoundary()", "2010-10-10T10:30:00.000+02:00")]
    [InlineData("@2010.lowBoundary()", "2010-01-01")]
    [InlineData("@2010-10-10T.lowBoundary(8)", "2010-10-10")]
    [InlineData("@T12:34.highBoundary()", "12:34:59.999")]
    [InlineData("{}.lowBoundary()", null)]
    public void Temporal_boundaries_follow_fhirpath(string path, string? expected)
    {
        Assert.Equal(expected, Value(path));
    }

    [Fact]
    public void Rows_stream_one_resource_at_a_time()
    {
        var view = View("""{"name":"id","path":"id"}""");
        // Nothing after the first resource may be read to produce its rows.
        var rows = view.Evaluate(Resources()).GetEnumerator();
        Assert.True(rows.MoveNext());
        Assert.Equal("p1", rows.Current[0]);
        Assert.Throws<InvalidOperationException>(() => rows.MoveNext());

        static IEnumerable<string> Resources()
        {
            yield return Patient;
            throw new InvalidOperationException("read past the first resource");
        }
    }

    [Fact]
    public void Resources_of_other_types_are_skipped()
    {
        var view = View("""{"name":"id","path":"id"}""");
        var rows = view.Evaluate(["""{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"}}""", Patient]).ToList();
        Assert.Equal("p1", Assert.Single(rows)[0]);
    }

    [Fact]
    public void Row_values_have_their_fhirpath_types()
    {
        var row = SingleRow(View("""
            {"name":"s","path":"name.first().family"},{"name":"b","path":"name.exists()"},{"name":"i","path":"name.count()"},
            {"name":"d","path":"2.50"},{"name":"dt","path":"birthDate"},{"name":"c","path":"name.given","collection":true},
            {"name":"n","path":"gender"}
            """));
        Assert.Equal<object?>(["A", true, 2L, 2.50m, "1970-06", new List<object?> { "x", "y" }, null], row);
    }

    [Fact]
    public void A_complex_value_in_a_column_is_an_error()
    {
        var error = Assert.Throws<ViewEvaluationException>(() => Value("name.first()"));
        Assert.Contains("HumanName", error.Message);
        Assert.Contains("Patient/p1", error.Message);
    }

    [Fact]
    public void A_repeat_path_that_leads_back_up_is_an_error_not_an_endless_loop()
    {
        var view = CompiledView.Parse("""{"resource":"Patient","select":[{"repeat":["name", "%resource.name"],"column":[{"name":"f","path":"family"}]}]}""");
        var error = Assert.Throws<ViewEvaluationException>(() => view.Evaluate([Patient]).ToList());
        Assert.Contains("repeat", error.Message);
    }

    [Fact]
    public void Constants_of_every_type_are_usable_in_paths()
    {
        var view = CompiledView.Parse("""
            {"resource":"Patient","constant":[{"name":"bd","valueDate":"1970-06"},{"name":"n","valueInteger":1},{"name":"f","valueString":"B"}],
             "select":[{"column":[{"name":"v","path":"birthDate = %bd and name[%n].family = %f"}]}]}
            """);
        Assert.Equal(true, Assert.Single(view.Evaluate([Patient]))[0]);
    }

    [Theory]
    [InlineData("""{"resource":"Patient","select":[{"forEech":"name","column":[{"name":"a","path":"id"}]}]}""", "$.select[0].forEech")]
    [InlineData("""{"resource":"Patient","select":[{"column":[{"name":"a","path":"id"},{"name":"a","path":"id"}]}]}""", "$.select")]
    [InlineData("""{"resource":"Patient","select":[{"column":[{"name":"a b","path":"id"}]}]}""", "$.select[0].column[0].name")]
    [InlineData("""{"resource":"Patient","select":[{"forEach":"name","repeat":["name"],"column":[{"name":"a","path":"id"}]}]}""", "$.select[0]")]
    [InlineData("""{"resource":"Patient","select":[{"column":[{"name":"a","path":"id","collection":"yes"}]}]}""", "$.select[0].column[0].collection")]
    [InlineData("""{"resource":"Patient","constant":[{"name":"c","valueDate":"June"}],"select":[{"column":[{"name":"a","path":"%c"}]}]}""", "$.constant[0].valueDate")]
    [InlineData("""{"resource":"Patient","constant":[{"name":"c","valuePositiveInt":0}],"select":[{"column":[{"name":"a","path":"%c"}]}]}""", "$.constant[0].valuePositiveInt")]
    [InlineData("""{"resource":"Patient","constant":[{"name":"c","valueString":"a","valueCode":"b"}],"select":[{"column":[{"name":"a","path":"%c"}]}]}""", "$.constant[0]")]
    [InlineData("""{"resource":"Patient","select":[{"column":[{"name":"a","path":"name.where("}]}]}""", "$.select[0].column[0].path")]
    [InlineData("""{"resource":"Patient","where":[{"path":"%missing"}],"select":[{"column":[{"name":"a","path":"id"}]}]}""", "$.where[0].path")]
    [InlineData("""{"resource":"patient","select":[{"column":[{"name":"a","path":"id"}]}]}""", "$.resource")]
    public void Invalid_views_are_rejected_with_the_path_of_the_problem(string json, string path)
    {
        var error = Assert.Throws<ViewDefinitionException>(() => CompiledView.Parse(json));
        Assert.Contains(error.Errors, e => e.Path == path);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        // Structure first (a view that cannot be read is not compiled), then every expression.
        var structure = Assert.Throws<ViewDefinitionException>(() => CompiledView.Parse("""
            {"resource":"Patient","select":[{"forEach":1,"column":[{"name":"a","path":"@@"},{"name":"1b","path":"id"}]}]}
            """));
        Assert.Equal(["$.select[0].forEach", "$.select[0].column[1].name"], structure.Errors.Select(e => e.Path));

        var expressions = Assert.Throws<ViewDefinitionException>(() => CompiledView.Parse("""
            {"resource":"Patient","where":[{"path":"%nope"}],"select":[{"forEach":"@@","column":[{"name":"a","path":"name.("},{"name":"b","path":"id"}]}]}
            """));
        Assert.Equal(["$.where[0].path", "$.select[0].forEach", "$.select[0].column[0].path"], expressions.Errors.Select(e => e.Path));
    }

    [Fact]
    public void Metadata_members_of_the_view_resource_are_allowed()
    {
        var view = CompiledView.Parse("""
            {"resourceType":"ViewDefinition","url":"http://example.org/v","name":"patients","status":"active","fhirVersion":["4.0.1"],
             "meta":{"profile":["x"]},"resource":"Patient","select":[{"column":[{"name":"id","path":"id","type":"id","description":"the id","tag":[{"name":"ansi/type","value":"CHAR(64)"}]}]}]}
            """);
        Assert.Equal("patients", view.Definition.Name);
        Assert.Equal(["id"], view.Columns.Select(c => c.Name));
    }
}
