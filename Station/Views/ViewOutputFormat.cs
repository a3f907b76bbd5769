namespace HealthTrain.Station.Views;

/// <summary>The file formats a view's rows can be written in.</summary>
public enum ViewOutputFormat
{
    /// <summary>RFC 4180 CSV with a header row; collection values as JSON arrays.</summary>
    Csv,

    /// <summary>One JSON object per row and line, members in column order.</summary>
    Ndjson,

    /// <summary>Apache Parquet, typed by the columns' declared FHIR types.</summary>
    Parquet,
}
