using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

namespace HealthTrain.Station.Fhir;

/// <summary>What the parser produced for a file, in order: zero or more <see cref="FhirFileRows"/> then one <see cref="FhirFileCompleted"/>, or a single skip or failure.</summary>
internal abstract record FhirFileEvent(string Path);

/// <summary>The file's SHA-256 matches its last successful load.</summary>
internal sealed record FhirFileSkipped(string Path) : FhirFileEvent(Path);

/// <summary>A chunk of the file's resources, to be upserted in the file's transaction.</summary>
internal sealed record FhirFileRows(string Path, List<FhirResourceRow> Rows) : FhirFileEvent(Path);

/// <summary>The file parsed completely; its transaction may commit.</summary>
internal sealed record FhirFileCompleted(string Path, string Sha256, long Bytes, List<(string Location, string Reason)> Rejected) : FhirFileEvent(Path);

/// <summary>The file is unusable; whatever was sent for it must be rolled back.</summary>
internal sealed record FhirFileFailed(string Path, string Sha256, string Reason) : FhirFileEvent(Path);

/// <summary>Reads, hashes and parses FHIR <c>.json</c> and <c>.ndjson</c> files into <see cref="FhirFileEvent"/>s; no database access.</summary>
/// <remarks>Not thread-safe: buffers are reused from file to file.</remarks>
internal sealed class FhirFileParser(IReadOnlyDictionary<string, string> loadedHashes, string loadedAt)
{
    // NDJSON exports can be gigabytes: send them in chunks so memory stays flat.
    private const int NdjsonChunkRows = 2_000;

    private readonly FhirDocumentReader _reader = new();
    private byte[] _buffer = new byte[4 * 1024 * 1024];

    /// <summary>Emits the events for one file through <paramref name="emit"/>.</summary>
    public void Parse(string path, Action<FhirFileEvent> emit)
    {
        try
        {
            if (path.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase))
            {
                ParseNdjson(path, emit);
            }
            else
            {
                ParseJson(path, emit);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            emit(new FhirFileFailed(path, "", $"{Path.GetFileName(path)}: cannot read: {ex.Message}"));
        }
    }

    private void ParseJson(string path, Action<FhirFileEvent> emit)
    {
        var length = ReadWholeFile(path);
        var bytes = _buffer.AsMemory(0, length);
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(bytes.Span));
        if (loadedHashes.GetValueOrDefault(path) == sha256)
        {
            emit(new FhirFileSkipped(path));
            return;
        }

        var rows = new List<FhirResourceRow>();
        var rejected = new List<(string, string)>();
        try
        {
            _reader.Read(SkipBom(bytes), "", loadedAt, rows, rejected);
        }
        catch (JsonException ex)
        {
            emit(new FhirFileFailed(path, sha256, $"{Path.GetFileName(path)}: not valid JSON: {ex.Message}"));
            return;
        }

        emit(new FhirFileRows(path, rows));
        emit(new FhirFileCompleted(path, sha256, length, rejected));
    }

    private void ParseNdjson(string path, Action<FhirFileEvent> emit)
    {
        string sha256;
        using (var stream = OpenSequential(path))
        {
            sha256 = Convert.ToHexStringLower(SHA256.HashData(stream));
        }

        if (loadedHashes.GetValueOrDefault(path) == sha256)
        {
            emit(new FhirFileSkipped(path));
            return;
        }

        using var file = OpenSequential(path);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var rows = new List<FhirResourceRow>(NdjsonChunkRows);
        var rejected = new List<(string, string)>();
        long lineNumber = 0;
        long bytes = 0;
        int filled = 0;
        var endOfFile = false;
        while (!endOfFile)
        {
            if (filled == _buffer.Length)
            {
                // A single line longer than the buffer: grow and keep reading.
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var read = file.Read(_buffer, filled, _buffer.Length - filled);
            hash.AppendData(_buffer, filled, read);
            bytes += read;
            filled += read;
            endOfFile = read == 0;

            var start = 0;
            while (true)
            {
                var newline = Array.IndexOf(_buffer, (byte)'\n', start, filled - start);
                if (newline < 0 && !(endOfFile && start < filled))
                {
                    break;
                }

                var end = newline < 0 ? filled : newline;
                lineNumber++;
                var line = Trim(_buffer.AsMemory(start, end - start));
                if (lineNumber == 1)
                {
                    line = SkipBom(line);
                }

                start = newline < 0 ? filled : newline + 1;
                if (line.IsEmpty)
                {
                    continue;
                }

                try
                {
                    _reader.Read(line, $"line {lineNumber}", loadedAt, rows, rejected);
                }
                catch (JsonException ex)
                {
                    emit(new FhirFileFailed(path, sha256, $"{Path.GetFileName(path)}: line {lineNumber} is not valid JSON: {ex.Message}"));
                    return;
                }

                if (rows.Count >= NdjsonChunkRows)
                {
                    emit(new FhirFileRows(path, rows));
                    rows = new List<FhirResourceRow>(NdjsonChunkRows);
                }
            }

            Buffer.BlockCopy(_buffer, start, _buffer, 0, filled - start);
            filled -= start;
        }

        if (Convert.ToHexStringLower(hash.GetHashAndReset()) != sha256)
        {
            emit(new FhirFileFailed(path, sha256, $"{Path.GetFileName(path)}: file changed while it was being loaded"));
            return;
        }

        emit(new FhirFileRows(path, rows));
        emit(new FhirFileCompleted(path, sha256, bytes, rejected));
    }

    /// <summary>Reads the file into the reusable buffer and returns its length.</summary>
    private int ReadWholeFile(string path)
    {
        using SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        var expected = RandomAccess.GetLength(handle);
        if (expected > Array.MaxLength)
        {
            throw new IOException($"{expected} bytes is too large for a single JSON document; use NDJSON");
        }

        if (_buffer.Length < expected + 1)
        {
            _buffer = new byte[Math.Max(expected + 1, _buffer.Length * 2L)];
        }

        // Read to end of file rather than trusting the length: the file may still be growing.
        var total = 0;
        int read;
        while ((read = RandomAccess.Read(handle, _buffer.AsSpan(total), total)) > 0)
        {
            total += read;
            if (total == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }
        }

        return total;
    }

    private static FileStream OpenSequential(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);

    private static ReadOnlyMemory<byte> SkipBom(ReadOnlyMemory<byte> bytes) =>
        bytes.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? bytes[3..] : bytes;

    private static ReadOnlyMemory<byte> Trim(ReadOnlyMemory<byte> line)
    {
        var span = line.Span;
        var start = 0;
        var end = span.Length;
        while (start < end && IsWhitespace(span[start]))
        {
            start++;
        }

        while (end > start && IsWhitespace(span[end - 1]))
        {
            end--;
        }

        return line[start..end];
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';
}
