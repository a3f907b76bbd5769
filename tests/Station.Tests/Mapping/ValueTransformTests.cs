using HealthTrain.Station.Mapping;

namespace HealthTrain.Station.Tests.Mapping;

/// <summary>Source text to FHIR primitives, and derived ids.</summary>
public sealed class ValueTransformTests
{
    [Theory]
    [InlineData("2014-05-06", "2014-05-06")]
    [InlineData("2014-05", "2014-05")]
    [InlineData("1998", "1998")]
    [InlineData("1998-04-09 00:00:00", "1998-04-09")]
    [InlineData("2014-05-06T23:34:30Z", "2014-05-06")]
    [InlineData(" 2014-05-06 ", "2014-05-06")]
    public void Dates(string source, string expected) => Assert.Equal(expected, ValueTransforms.ToDate(source));

    [Theory]
    [InlineData("2014-02-30")]
    [InlineData("2014-13-01")]
    [InlineData("0000-01-01")]
    [InlineData("14-05-06")]
    [InlineData("2014/05/06")]
    [InlineData("yesterday")]
    public void Bad_dates(string source) => Assert.Throws<FormatException>(() => ValueTransforms.ToDate(source));

    [Theory]
    [InlineData("2014-05-06T08:34:30Z", null, false, "2014-05-06T08:34:30Z")]
    [InlineData("2014-05-06T04:34:30-04:00", null, false, "2014-05-06T04:34:30-04:00")]
    [InlineData("2014-05-06T04:34:30+0200", null, false, "2014-05-06T04:34:30+02:00")]
    [InlineData("2014-05-06T04:34:30.022Z", null, false, "2014-05-06T04:34:30.022Z")]
    [InlineData("2014-05-06T04:34Z", null, false, "2014-05-06T04:34:00Z")]
    [InlineData("2014-05-06", null, false, "2014-05-06")]
    [InlineData("2013-05-17 10:15:00", "Z", false, "2013-05-17T10:15:00Z")]
    [InlineData("2013-05-17 10:15:00", "+01:00", false, "2013-05-17T10:15:00+01:00")]
    [InlineData("2013-05-17 00:00:00", "Z", true, "2013-05-17")]
    [InlineData("2013-05-17 00:00:00", "Z", false, "2013-05-17T00:00:00Z")]
    [InlineData("2013-05-17T00:00:00Z", null, true, "2013-05-17T00:00:00Z")]
    public void Date_times(string source, string? zone, bool dateOnlyAtMidnight, string expected) =>
        Assert.Equal(expected, ValueTransforms.ToDateTime(source, zone, dateOnlyAtMidnight));

    [Theory]
    [InlineData("2013-05-17 10:15:00")]
    [InlineData("2013-05-17T24:00:00Z")]
    [InlineData("2013-05-17T10:60:00Z")]
    [InlineData("2013-05-17T10:00:00+15:00")]
    public void Bad_date_times(string source) => Assert.Throws<FormatException>(() => ValueTransforms.ToDateTime(source));

    [Fact]
    public void Instants_need_a_full_time()
    {
        Assert.Equal("2014-05-06T08:34:30Z", ValueTransforms.ToInstant("2014-05-06T08:34:30Z"));
        Assert.Equal("2014-05-06T08:34:30Z", ValueTransforms.ToInstant("2014-05-06 08:34:30", "Z"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToInstant("2014-05-06"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToInstant("2014-05-06 08:34:30"));
    }

    [Theory]
    [InlineData("101.8", "101.8")]
    [InlineData("3.0", "3.0")]
    [InlineData("-71.25096856312933", "-71.25096856312933")]
    [InlineData("1e3", "1000")]
    [InlineData(".5", "0.5")]
    [InlineData("191395", "191395")]
    public void Decimals_keep_their_precision(string source, string expected) => Assert.Equal(expected, ValueTransforms.ToDecimal(source));

    [Theory]
    [InlineData("")]
    [InlineData("12,5")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("Never smoked tobacco (finding)")]
    [InlineData("1e400")]
    public void Bad_decimals(string source)
    {
        Assert.Throws<FormatException>(() => ValueTransforms.ToDecimal(source));
        Assert.False(ValueTransforms.IsDecimal(source));
    }

    [Fact]
    public void Integers_and_booleans()
    {
        Assert.Equal("12", ValueTransforms.ToInteger("12"));
        Assert.Equal("12", ValueTransforms.ToInteger("12.0"));
        Assert.Equal("-3", ValueTransforms.ToInteger("-3"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToInteger("12.5"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToInteger("0", 1, "positiveInt"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToInteger("99999999999"));
        Assert.Equal("true", ValueTransforms.ToBoolean("TRUE"));
        Assert.Equal("false", ValueTransforms.ToBoolean("0"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToBoolean("maybe"));
    }

    [Fact]
    public void Codes_and_ids()
    {
        Assert.Equal("8302-2", ValueTransforms.ToCode(" 8302-2 "));
        Assert.Equal("a b", ValueTransforms.ToCode("a  b"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToCode("a\tb"));
        Assert.Equal("b37f7960-7e9e-f3f7-f891-79ae4f632406", ValueTransforms.ToId("b37f7960-7e9e-f3f7-f891-79ae4f632406"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToId("a b"));
        Assert.Throws<FormatException>(() => ValueTransforms.ToId(new string('a', 65)));
    }

    [Fact]
    public void Uuid_v5_matches_the_rfc_algorithm()
    {
        // RFC 9562 / Python uuid.uuid5(uuid.NAMESPACE_DNS, "python.org").
        var dns = Guid.Parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
        Assert.Equal(Guid.Parse("886313e1-3b8a-5372-9b90-0c9aee199e5d"), DeterministicId.Create(dns, "python.org"));
    }

    [Fact]
    public void Row_ids_are_stable_and_keep_key_values_apart()
    {
        var ns = Guid.Parse("166ade99-adf3-4bd3-93d4-5f1bc3f6073f");
        var a = DeterministicId.ForRow(ns, "conditions", ["p", "e", "44054006", "2020-01-01"]);
        Assert.Equal(a, DeterministicId.ForRow(ns, "conditions", ["p", "e", "44054006", "2020-01-01"]));
        Assert.NotEqual(a, DeterministicId.ForRow(ns, "observations", ["p", "e", "44054006", "2020-01-01"]));
        Assert.NotEqual(DeterministicId.ForRow(ns, "t", ["a|b", "c"]), DeterministicId.ForRow(ns, "t", ["a", "b|c"]));
        Assert.NotEqual(DeterministicId.ForRow(ns, "t", ["ab", ""]), DeterministicId.ForRow(ns, "t", ["a", "b"]));
        Assert.Matches("^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", a);
    }
}
