using System.Text;
using System.Text.Json;

namespace HealthTrain.Station.Ingestion;

/// <summary>JSON that stops being valid at <see cref="Offset"/>; <see cref="AtEndOfData"/> when it simply ends too early (a truncated file).</summary>
internal sealed class JsonStreamException(string message, long offset, long line, long column, bool atEndOfData, Exception inner)
    : Exception(message, inner)
{
    /// <summary>Byte offset of the problem from the start of the stream.</summary>
    public long Offset { get; } = offset;

    /// <summary>1-based line of the problem.</summary>
    public long Line { get; } = line;

    /// <summary>1-based byte position in <see cref="Line"/>.</summary>
    public long Column { get; } = column;

    /// <summary>The data ended before the JSON was complete (unterminated string, unclosed object or array).</summary>
    public bool AtEndOfData { get; } = atEndOfData;
}

/// <summary>
/// Pulls JSON tokens from a stream of any size through a window buffer (<see cref="Utf8JsonReader"/> with a carried
/// <see cref="JsonReaderState"/>), so memory holds the current token or one captured value, never the whole document.
/// </summary>
internal sealed class JsonStreamReader : IDisposable
{
    // FHIR nests deeply (Questionnaire items, contained resources); the loader uses the same limit.
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 256 };
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly Stream _stream;
    private byte[] _buffer;
    private int _pos;            // first byte not yet consumed
    private int _end;            // end of the data in the buffer
    private long _bufferStart;   // stream offset of _buffer[0]
    private long _linesBefore;   // line breaks in the bytes already dropped from the buffer
    private bool _eof;
    private JsonReaderState _state = new(ReaderOptions);

    // The current token and how to re-read it (for Skip and TryCapture).
    private JsonReaderState _stateBefore;
    private int _posBefore;
    private int _tokenStart;
    private int _valueStart;
    private int _valueLength;
    private bool _valueEscaped;
    private int _pin = -1;       // while >= 0, bytes from here on stay in the buffer

    public JsonStreamReader(Stream stream, int bufferSize = 1 << 20)
    {
        _stream = stream;
        _buffer = new byte[bufferSize];
        SkipBom();
    }

    /// <summary>The current token.</summary>
    public JsonTokenType TokenType { get; private set; } = JsonTokenType.None;

    /// <summary>Depth of the current token as <see cref="Utf8JsonReader.CurrentDepth"/> counts it (the root object's start is 0, its properties 1).</summary>
    public int CurrentDepth { get; private set; }

    /// <summary>Stream offset of the first byte of the current token.</summary>
    public long TokenOffset => _bufferStart + _tokenStart;

    /// <summary>Stream offset just past everything consumed so far.</summary>
    public long Consumed => _bufferStart + _pos;

    /// <summary>Largest buffer used so far (bounded by the largest single value captured, or token read).</summary>
    public int BufferSize => _buffer.Length;

    /// <summary>Moves to the next token; false at the end of the document.</summary>
    /// <exception cref="JsonStreamException">The JSON is malformed or ends too early.</exception>
    public bool Read()
    {
        while (true)
        {
            var reader = new Utf8JsonReader(_buffer.AsSpan(_pos, _end - _pos), _eof, _state);
            bool read;
            try
            {
                read = reader.Read();
            }
            catch (JsonException e)
            {
                throw Describe(e, _pos);
            }

            if (read)
            {
                Accept(ref reader, _pos, _state);
                return true;
            }

            if (_eof)
            {
                return false;
            }

            Fill();
        }
    }

    /// <summary>The current string or property name as it appears in the JSON (still escaped when <see cref="ValueIsEscaped"/>); valid until the next call.</summary>
    public ReadOnlySpan<byte> RawValue => _buffer.AsSpan(_valueStart, _valueLength);

    /// <summary>The current string or property name contains escapes.</summary>
    public bool ValueIsEscaped => _valueEscaped;

    /// <summary>True when the current string or property name equals <paramref name="utf8"/>.</summary>
    public bool ValueTextEquals(ReadOnlySpan<byte> utf8) =>
        _valueEscaped ? GetString() == Encoding.UTF8.GetString(utf8) : _buffer.AsSpan(_valueStart, _valueLength).SequenceEqual(utf8);

    /// <summary>The current string or property name, unescaped.</summary>
    /// <exception cref="InvalidOperationException">The text is not valid UTF-8.</exception>
    public string GetString()
    {
        if (!_valueEscaped)
        {
            try
            {
                return StrictUtf8.GetString(_buffer, _valueStart, _valueLength);
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidOperationException("the text is not valid UTF-8", e);
            }
        }

        // The quoted token on its own is a complete JSON string: let the reader unescape it.
        var reader = new Utf8JsonReader(_buffer.AsSpan(_valueStart - 1, _valueLength + 2));
        reader.Read();
        return reader.GetString()!;
    }

    /// <summary>Skips the current value: after a property name, its value; on an object or array start, up to its end.</summary>
    public void Skip()
    {
        if (TokenType == JsonTokenType.PropertyName && !Read())
        {
            return;
        }

        if (TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            return;
        }

        // Fast path: the whole value is already buffered.
        if (TrySkipBuffered())
        {
            return;
        }

        // Slow path: walk token by token so the buffer need not hold the value.
        var depth = CurrentDepth;
        while (Read())
        {
            if (TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray && CurrentDepth == depth)
            {
                return;
            }
        }
    }

    /// <summary>
    /// On an object or array start, reads the whole value into the buffer and returns it (valid until the next call);
    /// when it is larger than <paramref name="maxBytes"/>, keeps only its first <paramref name="excerptBytes"/> bytes in
    /// <paramref name="excerpt"/>, skips the rest without buffering it, and returns false. Either way the reader ends on the value's last token.
    /// </summary>
    public bool TryCapture(int maxBytes, int excerptBytes, out ReadOnlyMemory<byte> value, out byte[] excerpt, out long size)
    {
        if (TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray))
        {
            throw new InvalidOperationException($"cannot capture a value from a {TokenType} token");
        }

        var startOffset = TokenOffset;
        _pin = _posBefore;
        try
        {
            while (true)
            {
                var reader = new Utf8JsonReader(_buffer.AsSpan(_posBefore, _end - _posBefore), _eof, _stateBefore);
                bool skipped;
                try
                {
                    reader.Read();
                    skipped = reader.TrySkip();
                }
                catch (JsonException e)
                {
                    throw Describe(e, _posBefore);
                }

                if (skipped)
                {
                    var start = _tokenStart;
                    var before = _posBefore;
                    Accept(ref reader, before, _stateBefore);
                    value = _buffer.AsMemory(start, _pos - start);
                    excerpt = [];
                    size = value.Length;
                    return true;
                }

                if (_end - _tokenStart >= maxBytes || _eof)
                {
                    break;
                }

                Fill();
            }
        }
        finally
        {
            _pin = -1;
        }

        excerpt = _buffer.AsSpan(_tokenStart, Math.Min(excerptBytes, _end - _tokenStart)).ToArray();
        var depth = CurrentDepth;
        while (Read())
        {
            if (TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray && CurrentDepth == depth)
            {
                break;
            }
        }

        value = default;
        size = Consumed - startOffset;
        return false;
    }

    public void Dispose() => _stream.Dispose();

    private bool TrySkipBuffered()
    {
        var reader = new Utf8JsonReader(_buffer.AsSpan(_posBefore, _end - _posBefore), _eof, _stateBefore);
        try
        {
            reader.Read();
            if (!reader.TrySkip())
            {
                return false;
            }
        }
        catch (JsonException e)
        {
            throw Describe(e, _posBefore);
        }

        Accept(ref reader, _posBefore, _stateBefore);
        return true;
    }

    /// <summary>Makes the reader's last token current; the reader started at buffer index <paramref name="from"/> with <paramref name="stateAtFrom"/>.</summary>
    private void Accept(ref Utf8JsonReader reader, int from, JsonReaderState stateAtFrom)
    {
        TokenType = reader.TokenType;
        CurrentDepth = reader.CurrentDepth;
        _tokenStart = from + (int)reader.TokenStartIndex;
        if (TokenType is JsonTokenType.String or JsonTokenType.PropertyName)
        {
            _valueStart = _tokenStart + 1;
            _valueLength = reader.ValueSpan.Length;
            _valueEscaped = reader.ValueIsEscaped;
        }

        // Re-reading from (_posBefore, _stateBefore) yields the current token again (used by Skip and TryCapture
        // right after a start token; after a skip the pair points at the skipped value's start, which nothing re-reads).
        _posBefore = from;
        _stateBefore = stateAtFrom;
        _pos = from + (int)reader.BytesConsumed;
        _state = reader.CurrentState;
    }

    /// <summary>Drops consumed bytes (keeping a pinned value), grows the buffer when full, and reads more.</summary>
    private void Fill()
    {
        var keep = _pin >= 0 ? Math.Min(_pin, _pos) : _pos;
        if (keep > 0)
        {
            _linesBefore += _buffer.AsSpan(0, keep).Count((byte)'\n');
            Buffer.BlockCopy(_buffer, keep, _buffer, 0, _end - keep);
            _end -= keep;
            _pos -= keep;
            _posBefore -= keep;
            _tokenStart -= keep;
            _valueStart -= keep;
            if (_pin >= 0)
            {
                _pin -= keep;
            }

            _bufferStart += keep;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, checked(_buffer.Length * 2));
        }

        var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
        {
            _eof = true;
        }
        else
        {
            _end += read;
        }
    }

    private void SkipBom()
    {
        while (_end < 3)
        {
            var read = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (read == 0)
            {
                _eof = true;
                break;
            }

            _end += read;
        }

        if (_buffer.AsSpan(0, _end).StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
        {
            _pos = 3;
        }
    }

    /// <summary>Turns the reader's exception into stream positions (the reader state carries line and column across buffers; the offset is found from them).</summary>
    private JsonStreamException Describe(JsonException e, int from)
    {
        var line = e.LineNumber ?? 0;            // 0-based, counted from the start of the stream
        var column = e.BytePositionInLine ?? 0;  // 0-based, within that line
        var linesAtFrom = _linesBefore + _buffer.AsSpan(0, from).Count((byte)'\n');
        long lineStart;
        if (line <= linesAtFrom)
        {
            var newline = _buffer.AsSpan(0, from).LastIndexOf((byte)'\n');
            lineStart = newline >= 0 ? _bufferStart + newline + 1 : _bufferStart;
        }
        else
        {
            var index = from;
            for (var i = linesAtFrom; i < line; i++)
            {
                var next = _buffer.AsSpan(index, _end - index).IndexOf((byte)'\n');
                if (next < 0)
                {
                    break;
                }

                index += next + 1;
            }

            lineStart = _bufferStart + index;
        }

        var offset = Math.Min(_bufferStart + _end, lineStart + column);
        var atEnd = _eof && (offset >= _bufferStart + _end - 1
            || e.Message.Contains("end of data", StringComparison.Ordinal)
            || e.Message.Contains("end of the JSON payload", StringComparison.Ordinal));
        var message = e.Message;
        var cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (cut > 0)
        {
            message = message[..cut];
        }

        return new JsonStreamException(message, offset, line + 1, column + 1, atEnd, e);
    }
}
