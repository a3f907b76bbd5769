using System.Globalization;
using HealthTrain.Bench;

// Benchmarks print figures; they never assert. Results go to docs/benchmarks.md with the machine and the command.
var command = args.FirstOrDefault() ?? "help";
var jobs = args.SkipWhile(a => a != "--jobs").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(10);
switch (command)
{
    case "job-overhead":
        await JobOverheadBench.RunAsync(jobs, Console.Out);
        return 0;
    case "ledger":
        LedgerBench.Run(100_000, Console.Out);
        return 0;
    case "ingest":
        IngestBench.Run(Console.Out);
        return 0;
    case "ingest-child":
        return IngestBench.RunChild(args[1..]);
    case "views":
        ViewsBench.Run(Console.Out);
        return 0;
    case "merge":
        MergeBench.Run(Console.Out);
        return 0;
    case "round-overhead":
    {
        var stations = args.SkipWhile(a => a != "--stations").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(3);
        var rounds = args.SkipWhile(a => a != "--rounds").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(5);
        await RoundOverheadBench.RunAsync(stations, rounds, Console.Out);
        return 0;
    }
    case "robustness":
    {
        var rounds = args.SkipWhile(a => a != "--rounds").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(10);
        var only = args.SkipWhile(a => a != "--strategies").Skip(1).Select(a => a.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).FirstOrDefault([]);
        await RobustnessBench.RunAsync(rounds, only, args.Contains("--honest-only"), Console.Out);
        return 0;
    }
    case "fed-vs-central" when args.SkipWhile(a => a != "--train").Skip(1).FirstOrDefault() == "pneumonia-cnn":
    {
        var rounds = args.SkipWhile(a => a != "--rounds").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(10);
        var epochs = args.SkipWhile(a => a != "--epochs").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(1);
        var skew = args.SkipWhile(a => a != "--skew").Skip(1).Select(a => double.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(0.8);
        var strategy = args.SkipWhile(a => a != "--strategy").Skip(1).FirstOrDefault("fedavg");
        var mu = args.SkipWhile(a => a != "--mu").Skip(1).Select(a => (double?)double.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault();
        await PneumoniaFederatedBench.RunAsync(rounds, epochs, skew, new HealthTrain.Trains.Protocol.TrainingSettings { Strategy = strategy, ProximalMu = mu, Seed = 42 }, Console.Out);
        return 0;
    }
    case "fed-vs-central":
    {
        var rounds = args.SkipWhile(a => a != "--rounds").Skip(1).Select(a => int.Parse(a, CultureInfo.InvariantCulture)).FirstOrDefault(5);
        var model = args.SkipWhile(a => a != "--model").Skip(1).FirstOrDefault("logistic");
        await FederatedVsCentralBench.RunAsync(rounds, model, Console.Out);
        return 0;
    }
    default:
        Console.WriteLine("""
            HealthTrain benchmarks
              job-overhead [--jobs N]   platform time per job at one station (pull from cache, inspect, input,
                                        container start, collect, upload), train compute excluded
              ledger                    append throughput and proof times at 100,000 ledger entries
              ingest                    station ingest (validate + store) vs Firely parse-only: resources/s, MB/s,
                                        peak memory, Synthea R4 at 1x, 2x, 4x (re-identified copies)
              views                     ViewDefinition rows/s over the Synthea Observations at 1x, 2x, 4x
              round-overhead [--stations N] [--rounds R]   time per training round minus the slowest station's
                                        train, diabetes-risk over N city slices through the real federation
              robustness [--rounds R] [--strategies "a,b"] [--honest-only]   one of five stations poisons its updates (x100, random):
                                        fedavg, median, trimmed mean (each also with norm bounding), geometric median;
                                        final models scored on every patient, against the clean run; --honest-only:
                                        a clean run over the four other stations instead
              fed-vs-central [--rounds R] [--model logistic|mlp]   diabetes-risk over 3 city slices (fedavg) vs all
                                        data in one place, same seeds; both final models on the same held-out patients
              fed-vs-central --train pneumonia-cnn [--rounds R] [--epochs E] [--skew S] [--strategy S] [--mu X]   pneumonia-cnn over 3 label-
                                        skewed stations (share S of each class at one station) vs the whole train
                                        split, same seeds; both final models on the validation split
              merge                     model merge throughput (fedavg, median, trimmed-mean) over 3 and 10 updates of a
                                        25M-parameter model vs a streaming-sum baseline and Flower's numpy aggregate
            """);
        return command == "help" ? 0 : 2;
}
