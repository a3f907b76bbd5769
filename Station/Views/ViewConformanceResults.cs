namespace HealthTrain.Station.Views;

/// <summary>The outcome of one official test: its title, whether it passed, and why not.</summary>
public sealed record ConformanceTestResult(string Name, bool Passed, string? Reason);

/// <summary>The outcomes of the tests of one official test file, named by the file's name (e.g. <c>basic.json</c>).</summary>
public sealed record ConformanceFileResult(string File, IReadOnlyList<ConformanceTestResult> Tests)
{
    /// <summary>How many of the file's tests passed.</summary>
    public int Passed => Tests.Count(t => t.Passed);
}

/// <summary>The outcomes of a folder of official test files.</summary>
public sealed record ConformanceReport(IReadOnlyList<ConformanceFileResult> Files)
{
    /// <summary>How many tests passed, over all files.</summary>
    public int Passed => Files.Sum(f => f.Passed);

    /// <summary>How many tests ran, over all files.</summary>
    public int Total => Files.Sum(f => f.Tests.Count);
}
