using HealthTrain.Station.Fhir;
using HealthTrain.Station.Ingestion;
using static HealthTrain.Station.Tests.Ingestion.IngestionTestData;

namespace HealthTrain.Station.Tests.Ingestion;

/// <summary>Idempotence and crash safety: a second run changes nothing, and a run stopped mid-way resumes to the same store a clean run makes.</summary>
public sealed class IngestionResumeTests : IDisposable
{
    private const int Files = 4;
    private const int PatientsPerFile = 60;

    private readonly string _dir = Directory.CreateTempSubdirectory("ht-ingest-resume-").FullName;

    public IngestionResumeTests()
    {
        // Four bundle files of patients with observations, plus bad entries, so the quarantine is part of the comparison.
        Directory.CreateDirectory(Input);
        for (var f = 0; f < Files; f++)
        {
            var entries = new List<(string, string?)>();
            for (var p = 0; p < PatientsPerFile; p++)
            {
                var id = $"f{f}p{p}";
                entries.Add((Patient(id), null));
                entries.Add((Observation(id + "-o1", "urn:uuid:" + id, p), null));
                entries.Add((Observation(id + "-o2", "urn:uuid:" + id, p + 0.5m), null));
                if (p % 20 == 0)
                {
                    entries.Add(("""{"resourceType":"Patient","active":"yes","id":"bad-""" + id + "\"}", null));
                }
            }

            File.WriteAllText(Path.Combine(Input, $"bundle{f}.json"), Bundle([.. entries]));
        }
    }

    private string Input => Path.Combine(_dir, "input");

    private static FhirIngestionOptions Options => new() { BatchSize = 50 };

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private FhirStore NewStore(string name) => new(Path.Combine(_dir, name + ".db"));

    private (IngestionReport Report, FhirStore Store) Clean()
    {
        var store = NewStore("clean");
        return (new FhirIngestion(store, Options).Run(new FhirBundleSource(), Input), store);
    }

    private static void AssertSameOutcome(IngestionReport expected, FhirStore expectedStore, IngestionReport actual, FhirStore actualStore)
    {
        Assert.Equal(Rows(expectedStore), Rows(actualStore));
        Assert.Equal(expected.IngestedByType, actual.IngestedByType);
        Assert.Equal(expected.QuarantinedByCategory, actual.QuarantinedByCategory);
        Assert.Equal(
            IngestionLog.Quarantine(expectedStore, expected.RunId).Select(q => (q.Position, q.Reason, q.Raw)),
            IngestionLog.Quarantine(actualStore, actual.RunId).Select(q => (q.Position, q.Reason, q.Raw)));
    }

    [Fact]
    public void Ingesting_twice_gives_the_same_counts_and_never_duplicates()
    {
        var store = NewStore("twice");
        var first = new FhirIngestion(store, Options).Run(new FhirBundleSource(), Input);
        var rowsAfterFirst = Rows(store);

        var second = new FhirIngestion(store, Options).Run(new FhirBundleSource(), Input);

        Assert.NotEqual(first.RunId, second.RunId);
        Assert.False(second.Resumed);
        Assert.Equal(first.IngestedByType, second.IngestedByType);
        Assert.Equal(first.QuarantinedByCategory, second.QuarantinedByCategory);
        Assert.Equal(first.StoreByType, second.StoreByType);
        Assert.Equal(Files * PatientsPerFile * 3, store.CountByType().Values.Sum());
        Assert.Equal(rowsAfterFirst, Rows(store));
    }

    [Fact]
    public void A_run_cancelled_mid_way_resumes_after_its_last_committed_batch_and_ends_like_a_clean_run()
    {
        var (clean, cleanStore) = Clean();
        var store = NewStore("resumed");
        using var cancel = new CancellationTokenSource();
        var total = clean.Records;
        var stopAt = total / 2 + 7;
        var source = new HookedSource(new FhirBundleSource(), n =>
        {
            if (n == stopAt) cancel.Cancel();
        });

        var run = Assert.ThrowsAny<OperationCanceledException>(() => new FhirIngestion(store, Options).Run(source, Input, cancel.Token));
        Assert.NotNull(run);
        var runId = IngestionLog.LatestRun(store)!.Value;
        Assert.Equal("interrupted", IngestionLog.Status(store, runId));
        // How many batches the writer committed before the cancellation reached it depends on thread timing;
        // what must hold is that the run stopped short and that resuming ends exactly like a clean run.
        var committed = store.CountByType().Values.Sum();
        Assert.InRange(committed, 0, clean.Ingested - 1);

        var resumed = new FhirIngestion(store, Options).Run(new FhirBundleSource(), Input);

        Assert.Equal(runId, resumed.RunId);
        Assert.True(resumed.Resumed);
        Assert.Equal(2, resumed.Attempts);
        Assert.InRange(resumed.ResumedAfterRecords, 0, stopAt);
        Assert.Equal("completed", IngestionLog.Status(store, runId));
        AssertSameOutcome(clean, cleanStore, resumed, store);
    }

    [Fact]
    public void A_source_that_throws_fails_the_run_and_the_next_run_resumes_without_losing_anything()
    {
        var (clean, cleanStore) = Clean();
        var store = NewStore("thrown");
        var source = new HookedSource(new FhirBundleSource(), n =>
        {
            if (n == 333) throw new IOException("disk went away");
        });

        var error = Assert.Throws<IOException>(() => new FhirIngestion(store, Options).Run(source, Input));
        Assert.Equal("disk went away", error.Message);
        var runId = IngestionLog.LatestRun(store)!.Value;
        Assert.Equal("failed", IngestionLog.Status(store, runId));

        var resumed = new FhirIngestion(store, Options).Run(new FhirBundleSource(), Input);

        Assert.True(resumed.Resumed);
        Assert.Equal(runId, resumed.RunId);
        AssertSameOutcome(clean, cleanStore, resumed, store);
    }

    [Fact]
    public void Two_interruptions_in_a_row_still_end_like_a_clean_run()
    {
        var (clean, cleanStore) = Clean();
        var store = NewStore("twice-interrupted");
        foreach (var stopAt in new[] { 120L, 200L })
        {
            using var cancel = new CancellationTokenSource();
            var source = new HookedSource(new FhirBundleSource(), n =>
            {
                if (n == stopAt) cancel.Cancel();
            });
            Assert.ThrowsAny<OperationCanceledException>(() => new FhirIngestion(store, Options).Run(source, Input, cancel.Token));
        }

        var resumed = new FhirIngestion(store, Options).Run(new FhirBundleSource(), Input);

        Assert.Equal(3, resumed.Attempts);
        AssertSameOutcome(clean, cleanStore, resumed, store);
    }

    [Fact]
    public void A_source_that_is_not_file_based_resumes_by_record_count()
    {
        var records = Enumerable.Range(0, 500)
            .Select(i => new SourceRecord($"row {i + 1}", i % 50 == 0 ? null : Patient($"p{i}"), i % 50 == 0 ? $"row {i + 1}: no such code" : null))
            .ToList();
        var cleanStore = NewStore("list-clean");
        var clean = new FhirIngestion(cleanStore, Options).Run(new ListSource(records), Input);
        var store = NewStore("list-resumed");
        using var cancel = new CancellationTokenSource();

        Assert.ThrowsAny<OperationCanceledException>(() =>
            new FhirIngestion(store, Options).Run(new ListSource(records, n => { if (n == 275) cancel.Cancel(); }), Input, cancel.Token));
        var resumed = new FhirIngestion(store, Options).Run(new ListSource(records), Input);

        Assert.True(resumed.Resumed);
        Assert.Equal(10, clean.QuarantinedByCategory[QuarantineCategory.SourceError]);
        AssertSameOutcome(clean, cleanStore, resumed, store);
    }

    [Fact]
    public void Changed_input_or_restart_starts_a_new_run()
    {
        var store = NewStore("changed");
        using (var cancel = new CancellationTokenSource())
        {
            var source = new HookedSource(new FhirBundleSource(), n =>
            {
                if (n == 100) cancel.Cancel();
            });
            Assert.ThrowsAny<OperationCanceledException>(() => new FhirIngestion(store, Options).Run(source, Input, cancel.Token));
        }

        var interrupted = IngestionLog.LatestRun(store)!.Value;
        File.AppendAllText(Path.Combine(Input, "bundle0.json"), "\n");

        var fresh = new FhirIngestion(store, Options).Run(new FhirBundleSource(), Input);

        Assert.False(fresh.Resumed);
        Assert.NotEqual(interrupted, fresh.RunId);
        Assert.Equal("abandoned", IngestionLog.Status(store, interrupted));
        Assert.Equal(Files * PatientsPerFile * 3, fresh.Ingested);
    }
}
