using HealthTrain.Station.Approval;
using HealthTrain.Trains.Protocol;

namespace HealthTrain.Station.Tests.Inspection;

public class ApprovalPolicyTests
{
    private static InspectionReport Report(string kind, string author, long memoryMb = 512, int gpus = 0) => new(
        "sha256:" + new string('a', 64), "alice/x", "x", "1.0.0", kind, author,
        [new ImageSigner("h", ImageSigner.HubRole, "hub"), new ImageSigner("k", ImageSigner.AuthorRole, author)], [], 0,
        new ImageConfigSummary("65532", [], [], [], [], [], new Dictionary<string, string>(), null),
        new TrainManifest { Name = "x", Version = "1.0.0", Kind = kind, Resources = new TrainResources { MemoryMb = memoryMb, Gpus = gpus } },
        null, [], DateTimeOffset.UtcNow);

    private static ApprovalPolicy Policy(ApprovalOptions approval) => new(new StationOptions { Approval = approval });

    [Fact]
    public void The_first_rule_whose_every_condition_holds_approves()
    {
        var policy = Policy(new ApprovalOptions
        {
            AutoApprove =
            [
                new AutoApproveRule { Name = "alice-stats", Kinds = [TrainKinds.Statistics], Authors = ["alice"], MaxMemoryMb = 1024, MaxGpus = 0 },
                new AutoApproveRule { Name = "small-anything", MaxMemoryMb = 256 },
            ],
        });
        Assert.Equal("alice-stats", policy.Match(Report(TrainKinds.Statistics, "alice"))?.Name);
        Assert.Null(policy.Match(Report(TrainKinds.Statistics, "bob")));
        Assert.Null(policy.Match(Report(TrainKinds.Training, "alice")));
        Assert.Null(policy.Match(Report(TrainKinds.Statistics, "alice", memoryMb: 2048)));
        Assert.Equal("small-anything", policy.Match(Report(TrainKinds.Training, "bob", memoryMb: 128))?.Name);
        Assert.Null(Policy(new ApprovalOptions()).Match(Report(TrainKinds.Statistics, "alice")));
    }

    [Fact]
    public void Hard_limits_name_what_is_asked_and_the_setting()
    {
        var policy = Policy(new ApprovalOptions { MaxMemoryMb = 1024, MaxGpus = 0, MaxTimeoutSeconds = 60, MaxCpus = 2 });
        var problems = policy.LimitProblems(new TrainManifest { Resources = new TrainResources { MemoryMb = 4096, Gpus = 1, TimeoutSeconds = 600, Cpus = 4 } });
        Assert.Equal(
        [
            "asks for 4 CPUs; this station allows at most 2 (Station:Approval:MaxCpus)",
            "asks for 4096 MB of memory; this station allows at most 1024 (Station:Approval:MaxMemoryMb)",
            "asks for 600 s; this station allows at most 60 (Station:Approval:MaxTimeoutSeconds)",
            "asks for 1 GPU(s); this station never gives trains GPUs (Station:Approval:MaxGpus = 0)",
        ], problems);
        Assert.Empty(policy.LimitProblems(new TrainManifest { Resources = new TrainResources { MemoryMb = 512, TimeoutSeconds = 60, Cpus = 1 } }));
    }
}
