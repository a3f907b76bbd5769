using System.Text;

namespace HealthTrain.Station.Mapping;

/// <summary>One CSV record: the physical line it starts on (1-based), its fields, and an error when the record is malformed.</summary>
/// <remarks>When <see cref="Error"/> is set the fields are what could be read and must not be trusted.</remarks>
public sealed record CsvRecord(long Line, IReadOnlyList<string> Fields, string? Error);

/// <summary>
/// A streaming RFC 4180 CSV reader: fields separated by a delimiter, records by CRLF, LF or CR; a field may be
/// quoted with <c>"</c>, and inside quotes the delimiter, line breaks and doubled quotes (<c>""</c>) are data.
/// A UTF-8 (or UTF-16/32) byte-order mark is skipped. Memory is bounded by the longest record.
/// </summary>
/// <remarks>
/// Deviations from the letter of RFC 4180, all deliberate: a quote inside an unquoted field is kept as data
/// (as most exporters expect); blank lines are skipped; the last record need not end with a line break.
/// Errors are reported per record and never thrown: a character after a closing quote marks the record as
/// malformed and reading continues with the next record; an unterminated quoted field, or a record longer
/// than <c>maxRecordChars</c>, ends the file with an error record (there is no safe place to resynchronise).
/// </remarks>
public sealed class CsvReader : IDisposable
{
    /// <summary>The default upper bound of one record's length, in characters.</summary>
    public const int DefaultMaxRecordChars = 16 * 1024 * 1024;

    private readonly TextReader _reader;
    private readonly char _delimiter;
    private readonly int _maxRecordChars;
    private readonly char[] _buffer = new char[64 * 1024];
    private readonly StringBuilder _field = new();
    private int _length;
    private int _position;
    private long _line = 1;
    private bool _finished;

    /// <summary>Reads from a byte stream; the encoding is UTF-8 unless a byte-order mark says otherwise.</summary>
    public CsvReader(Stream stream, char delimiter = ',', int maxRecordChars = DefaultMaxRecordChars, bool leaveOpen = false)
        : this(new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024, leaveOpen), delimiter, maxRecordChars)
    {
    }

    /// <summary>Reads from text; a leading U+FEFF is skipped.</summary>
    public CsvReader(TextReader reader, char delimiter = ',', int maxRecordChars = DefaultMaxRecordChars)
    {
        if (delimiter is '"' or '\r' or '\n')
        {
            throw new ArgumentException("the delimiter cannot be a quote or a line break", nameof(delimiter));
        }

        _reader = reader;
        _delimiter = delimiter;
        _maxRecordChars = maxRecordChars;
        if (Peek() == '\uFEFF')
        {
            _position++;
        }
    }

    /// <summary>Reads all records, lazily.</summary>
    public IEnumerable<CsvRecord> ReadAll()
    {
        while (TryRead(out var record))
        {
            yield return record;
        }
    }

    /// <summary>Reads the next record; false at the end of the input.</summary>
    public bool TryRead(out CsvRecord record)
    {
        record = null!;
        if (_finished)
        {
            return false;
        }

        // Skip blank lines between records.
        while (true)
        {
            var c = Peek();
            if (c < 0)
            {
                _finished = true;
                return false;
            }

            if (c == '\n')
            {
                _position++;
                _line++;
            }
            else if (c == '\r')
            {
                _position++;
                if (Peek() == '\n')
                {
                    _position++;
                }

                _line++;
            }
            else
            {
                break;
            }
        }

        var startLine = _line;
        var fields = new List<string>();
        string? error = null;
        var recordChars = 0;
        while (true)
        {
            // One field.
            _field.Clear();
            var c = Peek();
            if (c == '"')
            {
                _position++;
                var quoteLine = _line;
                while (true)
                {
                    c = Read();
                    if (c < 0)
                    {
                        fields.Add(_field.ToString());
                        record = new CsvRecord(startLine, fields, $"unterminated quoted field starting on line {quoteLine}");
                        _finished = true;
                        return true;
                    }

                    if (c == '"')
                    {
                        if (Peek() == '"')
                        {
                            _position++;
                            _field.Append('"');
                            continue;
                        }

                        break;
                    }

                    if (c == '\n' || (c == '\r' && Peek() != '\n'))
                    {
                        _line++;
                    }

                    _field.Append((char)c);
                    if (++recordChars > _maxRecordChars)
                    {
                        return TooLong(startLine, out record);
                    }
                }

                // After the closing quote only a delimiter, a line break or the end may follow.
                c = Peek();
                if (c >= 0 && c != _delimiter && c != '\r' && c != '\n')
                {
                    error ??= $"unexpected character '{(char)c}' after a closing quote on line {_line}";
                    ReadUnquotedInto(ref recordChars);
                }
            }
            else
            {
                ReadUnquotedInto(ref recordChars);
            }

            if (recordChars > _maxRecordChars)
            {
                return TooLong(startLine, out record);
            }

            fields.Add(_field.ToString());
            c = Read();
            if (c == _delimiter)
            {
                continue;
            }

            if (c == '\r')
            {
                if (Peek() == '\n')
                {
                    _position++;
                }

                _line++;
            }
            else if (c == '\n')
            {
                _line++;
            }
            else if (c < 0)
            {
                _finished = true;
            }

            record = new CsvRecord(startLine, fields, error);
            return true;
        }
    }

    /// <summary>Appends characters up to (not including) the next delimiter, line break or end of input.</summary>
    private void ReadUnquotedInto(ref int recordChars)
    {
        while (true)
        {
            if (_position >= _length && !Fill())
            {
                return;
            }

            var span = _buffer.AsSpan(_position, _length - _position);
            var stop = span.IndexOfAny(_delimiter, '\r', '\n');
            var take = stop < 0 ? span.Length : stop;
            _field.Append(span[..take]);
            _position += take;
            recordChars += take;
            if (stop >= 0 || recordChars > _maxRecordChars)
            {
                return;
            }
        }
    }

    private bool TooLong(long startLine, out CsvRecord record)
    {
        record = new CsvRecord(startLine, [], $"record starting on line {startLine} is longer than {_maxRecordChars} characters (an unterminated quote?); the rest of the file is not read");
        _finished = true;
        return true;
    }

    private int Peek()
    {
        if (_position >= _length && !Fill())
        {
            return -1;
        }

        return _buffer[_position];
    }

    private int Read()
    {
        if (_position >= _length && !Fill())
        {
            return -1;
        }

        return _buffer[_position++];
    }

    private bool Fill()
    {
        _length = _reader.Read(_buffer, 0, _buffer.Length);
        _position = 0;
        return _length > 0;
    }

    /// <inheritdoc />
    public void Dispose() => _reader.Dispose();
}
