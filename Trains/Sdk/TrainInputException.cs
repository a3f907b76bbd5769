namespace HealthTrain.Trains.Sdk;

/// <summary>The station delivered input the train cannot use: a missing or mistyped parameter, or a malformed resource line.</summary>
public sealed class TrainInputException(string message, Exception? innerException = null) : Exception(message, innerException);
