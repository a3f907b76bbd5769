using HealthTrain.Hub;

HubApp.Build(args).Run();

/// <summary>Entry point, visible to in-process tests.</summary>
public partial class Program;
