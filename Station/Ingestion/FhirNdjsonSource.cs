using System.Text;
using System.Text.Json;

namespace HealthTrain.Station.Ingestion;

/// <summary>
/// <c>fhir-ndjson</c>: a file or folder of FHIR NDJSON (Bulk Data export: one resource per line, <c>.ndjson</c> or <c>.jsonl</c>).
/// </summary>
/// <remarks>
/// Streams line by line through one buffer: a line over <see cref="MaxResourceBytes"/> is skipped without being held
/// (its first <see cref="ExcerptBytes"/> bytes are kept for the quarantine), so memory stays flat whatever the line or
/// file size. Blank lines are not records. A last line without a line break whose JSON is incomplete is reported as
/// truncated; other malformed lines are left to the pipeline, which says why. Not thread-safe.
/// </remarks>
public sealed class FhirNdjsonSource : IFileFhirSource, ISizeLimitedSource
{
    /// <summary>The <c>--format</c> name.</summary>
    public const string FormatName = "fhir-ndjson";

    /// <inheritdoc />
    public string Format => FormatName;

    /// <inheritdoc />
    public int MaxResourceBytes { get; set; } = FhirIngestionOptions.DefaultMaxResourceBytes;

    /// <summary>How much of a rejected line goes into the error record's text.</summary>
    public int ExcerptBytes { get; set; } = FhirIngestionOptions.DefaultQuarantineTextBytes;

    /// <inheritdoc />
    public IEnumerable<SourceRecord> Read(string path, CancellationToken cancellationToken)
    {
        foreach (var file in ListFiles(path))
        {
            foreach (var record in ReadFile(path, file, cancellationToken))
            {
                yield return record;
            }
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<string> ListFiles(string path) => SourceFiles.List(path, ".ndjson", ".jsonl");

    /// <inheritdoc />
    public IEnumerable<SourceRecord> ReadFile(string path, string file, CancellationToken cancellationToken)
    {
        var name = SourceFiles.Display(path, file);
        LineReader lines;
        try
        {
            lines = new LineReader(SourceFiles.OpenSequential(file), MaxResourceBytes, ExcerptBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [new SourceRecord(name, null, $"{name}: cannot read: {e.Message}")];
        }

        return ReadLines(name, lines, cancellationToken);
    }

    private IEnumerable<SourceRecord> ReadLines(string name, LineReader lines, CancellationToken cancellationToken)
    {
        using (lines)
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                SourceRecord? record;
                try
                {
                    record = lines.Next() ? ToRecord(name, lines) : null;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    record = new SourceRecord($"{name}, line {lines.LineNumber + 1}", null, $"{name}: cannot read the rest of the file: {e.Message}");
                    lines.Stop();
                }

                if (record is null)
                {
                    yield break;
                }

                if (record.Position.Length > 0)
                {
                    yield return record;
                }
            }
        }
    }

    /// <summary>The record for the current line; one with an empty position for a blank line (not a record).</summary>
    private SourceRecord ToRecord(string name, LineReader lines)
    {
        var position = $"{name}, line {lines.LineNumber}";
        if (lines.TooLarge)
        {
            return new SourceRecord(
                position,
                QuarantineCategory.Lossy(lines.Excerpt),
                QuarantineCategory.WithExcerpt(
                    $"{position} is {QuarantineCategory.Bytes(lines.Size)} bytes, {QuarantineCategory.TooLargePhrase} {QuarantineCategory.Bytes(MaxResourceBytes)} bytes for one resource",
                    lines.Excerpt.Length,
                    lines.Size));
        }

        var line = Trim(lines.Line);
        if (line.IsEmpty)
        {
            return new SourceRecord("", null, null);
        }

        var kept = Math.Min(line.Length, ExcerptBytes);
        if (QuarantineCategory.CheckUtf8(line, position) is { } notUtf8)
        {
            return new SourceRecord(position, QuarantineCategory.Lossy(line[..kept]), QuarantineCategory.WithExcerpt(notUtf8, kept, line.Length));
        }

        if (!lines.EndedWithLineBreak && EndsEarly(line) is { } problem)
        {
            return new SourceRecord(
                position,
                QuarantineCategory.Lossy(line[..kept]),
                QuarantineCategory.WithExcerpt(
                    $"{position}: {QuarantineCategory.TruncatedPhrase} the last line ends before its JSON is complete and the file has no final line break ({problem})",
                    kept,
                    line.Length));
        }

        return new SourceRecord(position, Encoding.UTF8.GetString(line), null);
    }

    /// <summary>The reader's complaint when <paramref name="json"/> stops before it is complete, else null (complete, or wrong in another way).</summary>
    private static string? EndsEarly(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 256 });
        try
        {
            while (reader.Read())
            {
            }

            return null;
        }
        catch (JsonException e)
        {
            var endOfData = e.Message.Contains("end of data", StringComparison.Ordinal)
                || e.Message.Contains("end of the JSON payload", StringComparison.Ordinal)
                || reader.BytesConsumed >= json.Length;
            if (!endOfData)
            {
                return null;
            }

            var cut = e.Message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            return cut > 0 ? e.Message[..cut] : e.Message;
        }
    }

    private static ReadOnlySpan<byte> Trim(ReadOnlySpan<byte> line)
    {
        if (line.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            line = line[3..];
        }

        return line.Trim((ReadOnlySpan<byte>)[(byte)' ', (byte)'\t', (byte)'\r', (byte)'\n']);
    }

    /// <summary>Splits a stream into lines through one growing buffer, refusing (and skipping) lines over a limit.</summary>
    private sealed class LineReader(Stream stream, int maxLineBytes, int excerptBytes) : IDisposable
    {
        private byte[] _buffer = new byte[Math.Min(1 << 20, Math.Max(4096, maxLineBytes + 1))];
        private int _start;
        private int _end;
        private int _scanned;
        private bool _eof;
        private bool _stopped;

        public long LineNumber { get; private set; }

        public ReadOnlySpan<byte> Line => _buffer.AsSpan(LineStart, LineLength);

        public bool EndedWithLineBreak { get; private set; }

        public bool TooLarge { get; private set; }

        public byte[] Excerpt { get; private set; } = [];

        public long Size { get; private set; }

        private int LineStart { get; set; }

        private int LineLength { get; set; }

        public bool Next()
        {
            if (_stopped)
            {
                return false;
            }

            TooLarge = false;
            while (true)
            {
                var newline = _buffer.AsSpan(_scanned, _end - _scanned).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    var end = _scanned + newline;
                    Take(end, lineBreak: true);
                    return true;
                }

                _scanned = _end;
                if (_eof)
                {
                    if (_start == _end)
                    {
                        return false;
                    }

                    Take(_end, lineBreak: false);
                    return true;
                }

                if (_end - _start > maxLineBytes)
                {
                    SkipLongLine();
                    return true;
                }

                Fill();
            }
        }

        public void Stop() => _stopped = true;

        public void Dispose() => stream.Dispose();

        private void Take(int end, bool lineBreak)
        {
            LineNumber++;
            LineStart = _start;
            LineLength = end - _start;
            Size = LineLength;
            EndedWithLineBreak = lineBreak;
            _start = lineBreak ? end + 1 : end;
            _scanned = _start;
            if (LineLength > maxLineBytes)
            {
                // Fitted in the buffer's slack, but still over the limit.
                TooLarge = true;
                Excerpt = _buffer.AsSpan(LineStart, Math.Min(excerptBytes, LineLength)).ToArray();
            }
        }

        /// <summary>Keeps the line's beginning, then reads on to its end without holding it.</summary>
        private void SkipLongLine()
        {
            LineNumber++;
            TooLarge = true;
            Excerpt = _buffer.AsSpan(_start, Math.Min(excerptBytes, _end - _start)).ToArray();
            long size = _end - _start;
            while (true)
            {
                _start = _end = _scanned = 0;
                var read = stream.Read(_buffer, 0, _buffer.Length);
                if (read == 0)
                {
                    _eof = true;
                    EndedWithLineBreak = false;
                    break;
                }

                _end = read;
                var newline = _buffer.AsSpan(0, read).IndexOf((byte)'\n');
                if (newline >= 0)
                {
                    size += newline;
                    _start = _scanned = newline + 1;
                    EndedWithLineBreak = true;
                    break;
                }

                size += read;
            }

            Size = size;
            LineStart = 0;
            LineLength = 0;
        }

        private void Fill()
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _scanned -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                // Double, but once that reaches the limit go straight to the limit plus some slack (to see that a line is over it).
                var doubled = _buffer.Length * 2L;
                Array.Resize(ref _buffer, (int)(doubled >= maxLineBytes ? (long)maxLineBytes + (64 << 10) : doubled));
            }

            var read = stream.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                _eof = true;
            }
            else
            {
                _end += read;
            }
        }
    }
}
