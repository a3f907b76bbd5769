using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace HealthTrain.Cli.Demo;

/// <summary>
/// Splits a folder of Synthea patient bundles into N station folders by the patient's city, so that every city
/// lives wholly at one station (a non-IID split like real hospitals); bundles without a Patient go to every station.
/// </summary>
public static class CitySplit
{
    /// <summary>City used for patients whose first address has no city.</summary>
    public const string UnknownCity = "(unknown)";

    /// <summary>
    /// Assigns every <c>*.json</c> file directly in <paramref name="inputFolder"/> to one of <paramref name="parts"/> folders
    /// <c>part-1</c> … <c>part-N</c> under <paramref name="outputFolder"/> and hard-links it there (copying when linking fails).
    /// Deterministic: the same input always gives the same parts.
    /// </summary>
    /// <exception cref="InvalidOperationException">A part folder already holds files this split would not put there (stale output).</exception>
    /// <exception cref="InvalidDataException">A file is not valid JSON before its Patient ends.</exception>
    public static CitySplitResult Split(string inputFolder, string outputFolder, int parts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parts, 1);
        var files = Directory.EnumerateFiles(inputFolder, "*.json").Order(StringComparer.Ordinal).ToList();

        var shared = new List<string>();
        var patientsByCity = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            var city = FindCity(file);
            if (city is null)
            {
                shared.Add(file);
            }
            else if (patientsByCity.TryGetValue(city, out var list))
            {
                list.Add(file);
            }
            else
            {
                patientsByCity[city] = [file];
            }
        }

        var plan = Balance(patientsByCity, parts);
        var result = new List<CitySplitPart>(parts);
        for (var i = 0; i < parts; i++)
        {
            var folder = Path.Combine(Path.GetFullPath(outputFolder), $"part-{i + 1}");
            var sources = plan[i].SelectMany(city => patientsByCity[city]).Concat(shared).ToList();
            var names = sources.Select(source => Path.GetFileName(source)).Order(StringComparer.Ordinal).ToList();
            result.Add(new CitySplitPart(i + 1, folder, plan[i], plan[i].Sum(city => patientsByCity[city].Count), names, sources));
        }

        // Check every part before writing any, so a refused split leaves nothing half-done.
        foreach (var part in result)
        {
            RefuseStaleFiles(part);
        }

        foreach (var part in result)
        {
            Directory.CreateDirectory(part.Folder);
            foreach (var source in part.Sources)
            {
                LinkOrCopy(source, Path.Combine(part.Folder, Path.GetFileName(source)));
            }
        }

        return new CitySplitResult(result, shared.Select(f => Path.GetFileName(f)).ToList());
    }

    /// <summary>
    /// The city (<c>address[0].city</c>) of the first Patient in a bundle or single-resource file, <see cref="UnknownCity"/> when it has none,
    /// or null when the file holds no Patient. Streams the file and stops as soon as the Patient's city is known.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not valid JSON before its Patient ends.</exception>
    public static string? FindCity(string bundlePath)
    {
        using var stream = new FileStream(bundlePath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            var scanner = new PatientCityScanner();
            var state = new JsonReaderState(new JsonReaderOptions { MaxDepth = 256 });
            var filled = 0;
            var start = 0;
            var firstBlock = true;
            while (true)
            {
                var read = stream.Read(buffer, filled, buffer.Length - filled);
                filled += read;
                var isFinal = read == 0;
                if (firstBlock && filled >= 3 && buffer.AsSpan(0, 3).SequenceEqual((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]))
                {
                    start = 3;
                }

                firstBlock = false;
                var reader = new Utf8JsonReader(buffer.AsSpan(start, filled - start), isFinal, state);
                try
                {
                    while (reader.Read())
                    {
                        if (scanner.Visit(ref reader))
                        {
                            return scanner.City;
                        }
                    }
                }
                catch (JsonException ex)
                {
                    throw new InvalidDataException($"{Path.GetFileName(bundlePath)}: not valid JSON: {ex.Message}", ex);
                }

                if (isFinal)
                {
                    return null;
                }

                // Keep the unread tail (a token cut by the block end) and read on after it.
                state = reader.CurrentState;
                var consumed = start + (int)reader.BytesConsumed;
                Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
                filled -= consumed;
                start = 0;
                if (filled == buffer.Length)
                {
                    // One token larger than the buffer (a big base64 attachment): grow.
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    Buffer.BlockCopy(buffer, 0, larger, 0, filled);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Greedy balance: cities by patient count descending then name, each to the part with fewest patients (lowest index on ties).</summary>
    private static List<string>[] Balance(Dictionary<string, List<string>> patientsByCity, int parts)
    {
        var plan = Enumerable.Range(0, parts).Select(_ => new List<string>()).ToArray();
        var sizes = new int[parts];
        foreach (var (city, patients) in patientsByCity
                     .OrderByDescending(c => c.Value.Count)
                     .ThenBy(c => c.Key, StringComparer.Ordinal))
        {
            var smallest = 0;
            for (var i = 1; i < parts; i++)
            {
                if (sizes[i] < sizes[smallest])
                {
                    smallest = i;
                }
            }

            plan[smallest].Add(city);
            sizes[smallest] += patients.Count;
        }

        return plan;
    }

    private static void RefuseStaleFiles(CitySplitPart part)
    {
        if (!Directory.Exists(part.Folder))
        {
            return;
        }

        var expected = part.Files.ToHashSet(StringComparer.Ordinal);
        var stale = Directory.EnumerateFileSystemEntries(part.Folder)
            .Select(entry => Path.GetFileName(entry))
            .Where(name => !expected.Contains(name))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (stale.Count > 0)
        {
            // Leaving them would give the station data from another split; deleting them could destroy someone's files.
            throw new InvalidOperationException(
                $"{part.Folder} holds {stale.Count} file(s) this split would not put there (e.g. {stale[0]}); empty or remove the folder first");
        }
    }

    private static void LinkOrCopy(string source, string destination)
    {
        if (File.Exists(destination))
        {
            File.Delete(destination);
        }

        try
        {
            // A hard link costs no space and no copy time for 580 MB × N stations.
            if (link(source, destination) == 0)
            {
                return;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // No libc link(): copy instead.
        }

        // link() failed, e.g. EXDEV across file systems or a file system without hard links.
        File.Copy(source, destination, overwrite: true);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int link([MarshalAs(UnmanagedType.LPUTF8Str)] string oldpath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newpath);

    /// <summary>Streaming state machine over the JSON tokens of a bundle that spots the first Patient and its <c>address[0].city</c>.</summary>
    private sealed class PatientCityScanner
    {
        private enum Kind { Resource, EntryArray, Entry, AddressArray, FirstAddress, Other }

        private enum Property { None, ResourceType, Entry, Resource, Address, City }

        /// <summary>An open object or array; resource frames also collect the type and city seen so far.</summary>
        private struct Frame
        {
            public Kind Kind;
            public int Elements;
            public string? Type;
            public string? City;
        }

        private readonly List<Frame> _stack = [];
        private Property _property;

        /// <summary>The Patient's city once <see cref="Visit"/> returned true.</summary>
        public string? City { get; private set; }

        /// <summary>Consumes one token; true once the first Patient's city is known.</summary>
        public bool Visit(ref Utf8JsonReader reader)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                case JsonTokenType.StartArray:
                    _stack.Add(new Frame { Kind = ChildKind(reader.TokenType == JsonTokenType.StartObject) });
                    _property = Property.None;
                    return false;

                case JsonTokenType.EndObject:
                case JsonTokenType.EndArray:
                    var closed = _stack[^1];
                    _stack.RemoveAt(_stack.Count - 1);
                    if (closed.Kind == Kind.Resource && closed.Type == "Patient")
                    {
                        City = string.IsNullOrWhiteSpace(closed.City) ? UnknownCity : closed.City.Trim();
                        return true;
                    }

                    return false;

                case JsonTokenType.PropertyName:
                    _property = _stack[^1].Kind is Kind.Resource or Kind.Entry or Kind.FirstAddress ? PropertyOf(ref reader) : Property.None;
                    return false;

                case JsonTokenType.String:
                    CountElement();
                    return OnString(ref reader);

                default:
                    CountElement();
                    _property = Property.None;
                    return false;
            }
        }

        private bool OnString(ref Utf8JsonReader reader)
        {
            var property = _property;
            _property = Property.None;
            var top = _stack.Count - 1;
            if (property == Property.ResourceType && _stack[top].Kind == Kind.Resource)
            {
                var frame = _stack[top];
                frame.Type = reader.GetString();
                _stack[top] = frame;
                if (frame.Type == "Patient" && !string.IsNullOrWhiteSpace(frame.City))
                {
                    City = frame.City.Trim();
                    return true;
                }

                return false;
            }

            // FirstAddress sits in AddressArray, which sits in its Resource.
            if (property == Property.City && _stack[top].Kind == Kind.FirstAddress && top >= 2)
            {
                var resource = _stack[top - 2];
                resource.City = reader.GetString();
                _stack[top - 2] = resource;
                if (resource.Type == "Patient" && !string.IsNullOrWhiteSpace(resource.City))
                {
                    City = resource.City.Trim();
                    return true;
                }
            }

            return false;
        }

        private Kind ChildKind(bool isObject)
        {
            if (_stack.Count == 0)
            {
                return isObject ? Kind.Resource : Kind.Other;
            }

            var parent = _stack[^1];
            CountElement();
            return (parent.Kind, _property, isObject) switch
            {
                (Kind.Resource, Property.Entry, false) => Kind.EntryArray,
                (Kind.Resource, Property.Address, false) => Kind.AddressArray,
                (Kind.EntryArray, _, true) => Kind.Entry,
                (Kind.Entry, Property.Resource, true) => Kind.Resource,
                (Kind.AddressArray, _, true) when parent.Elements == 0 => Kind.FirstAddress,
                _ => Kind.Other,
            };
        }

        /// <summary>Counts a value as an element of the enclosing array (for address[0]).</summary>
        private void CountElement()
        {
            if (_stack.Count > 0 && _stack[^1].Kind is Kind.EntryArray or Kind.AddressArray)
            {
                var frame = _stack[^1];
                frame.Elements++;
                _stack[^1] = frame;
            }
        }

        private static Property PropertyOf(ref Utf8JsonReader reader) =>
            reader.ValueTextEquals("resourceType"u8) ? Property.ResourceType
            : reader.ValueTextEquals("entry"u8) ? Property.Entry
            : reader.ValueTextEquals("resource"u8) ? Property.Resource
            : reader.ValueTextEquals("address"u8) ? Property.Address
            : reader.ValueTextEquals("city"u8) ? Property.City
            : Property.None;
    }
}

/// <summary>The outcome of <see cref="CitySplit.Split"/>.</summary>
/// <param name="Parts">The parts, in order <c>part-1</c> … <c>part-N</c>.</param>
/// <param name="SharedFiles">File names without a Patient (organizations, practitioners) that were put into every part.</param>
public sealed record CitySplitResult(IReadOnlyList<CitySplitPart> Parts, IReadOnlyList<string> SharedFiles);

/// <summary>One part of a city split: a station's share of the patients.</summary>
/// <param name="Number">1-based part number.</param>
/// <param name="Folder">Full path of the part's folder.</param>
/// <param name="Cities">The cities whose patients all went to this part, largest first.</param>
/// <param name="PatientCount">Number of patient bundles in the part.</param>
/// <param name="Files">Every file name linked into the part (patients and shared), ordinal order.</param>
/// <param name="Sources">Full paths of the input files behind <paramref name="Files"/>.</param>
public sealed record CitySplitPart(
    int Number,
    string Folder,
    IReadOnlyList<string> Cities,
    int PatientCount,
    IReadOnlyList<string> Files,
    IReadOnlyList<string> Sources);
