using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace HealthTrain.Station.Mapping;

/// <summary>The JSON kind of a leaf value.</summary>
internal enum LeafKind
{
    String,
    Number,
    Boolean,
}

/// <summary>A primitive value in the resource tree: a string, or the raw token of a number or boolean.</summary>
internal readonly record struct LeafValue(LeafKind Kind, string Text);

/// <summary>One step of an element path: a property name and, for repeating elements, an index (−1 when none).</summary>
internal readonly record struct PathSegment(string Name, int Index)
{
    public override string ToString() => Index < 0 ? Name : $"{Name}[{Index}]";
}

/// <summary>Element paths: <c>name</c> or <c>name[index]</c> steps separated by dots.</summary>
internal static partial class ElementPath
{
    [GeneratedRegex(@"^(?<name>[A-Za-z][A-Za-z0-9_]*)(\[(?<index>\d{1,3})\])?$", RegexOptions.CultureInvariant)]
    private static partial Regex SegmentPattern();

    public static PathSegment[] Parse(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new FormatException("an element path cannot be empty");
        }

        var parts = path.Split('.');
        var segments = new PathSegment[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            var match = SegmentPattern().Match(parts[i]);
            if (!match.Success)
            {
                throw new FormatException($"'{path}' is not an element path (steps are name or name[index], separated by dots)");
            }

            segments[i] = new PathSegment(match.Groups["name"].Value, match.Groups["index"].Success ? int.Parse(match.Groups["index"].Value, System.Globalization.CultureInfo.InvariantCulture) : -1);
        }

        return segments;
    }

    public static PathSegment[] Concat(PathSegment[] first, PathSegment[] second) => [.. first, .. second];

    public static PathSegment[] Append(PathSegment[] first, string name, int index = -1) => [.. first, new PathSegment(name, index)];

    public static string ToString(IReadOnlyList<PathSegment> path) => string.Join('.', path);
}

/// <summary>A rule wrote into a part of the tree that another rule made a different kind (e.g. a leaf where an object is).</summary>
internal sealed class PathConflictException(string message) : Exception(message);

/// <summary>
/// The resource being built for one row: rules set leaves by path (the first value set for a leaf wins), and
/// <see cref="WriteJson"/> writes it, leaving out objects and arrays that ended up empty and closing gaps in arrays.
/// </summary>
internal sealed class ResourceTree
{
    private sealed class ObjectNode
    {
        public readonly List<KeyValuePair<string, object>> Properties = [];

        public object? Get(string name)
        {
            foreach (var property in Properties)
            {
                if (property.Key == name)
                {
                    return property.Value;
                }
            }

            return null;
        }
    }

    private sealed class ArrayNode
    {
        public readonly List<object?> Items = [];
    }

    private static readonly JsonWriterOptions WriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    private readonly ObjectNode _root = new();

    /// <summary>Sets a leaf; false when the leaf already had a value (which is kept).</summary>
    public bool Set(IReadOnlyList<PathSegment> path, LeafValue value)
    {
        var current = _root;
        for (var i = 0; i < path.Count; i++)
        {
            var segment = path[i];
            var last = i == path.Count - 1;
            var existing = current.Get(segment.Name);
            if (segment.Index < 0)
            {
                if (last)
                {
                    if (existing is null)
                    {
                        current.Properties.Add(new(segment.Name, value));
                        return true;
                    }

                    return existing is LeafValue ? false : throw Conflict(path, i);
                }

                if (existing is null)
                {
                    var child = new ObjectNode();
                    current.Properties.Add(new(segment.Name, child));
                    current = child;
                }
                else
                {
                    current = existing as ObjectNode ?? throw Conflict(path, i);
                }

                continue;
            }

            ArrayNode array;
            if (existing is null)
            {
                array = new ArrayNode();
                current.Properties.Add(new(segment.Name, array));
            }
            else
            {
                array = existing as ArrayNode ?? throw Conflict(path, i);
            }

            while (array.Items.Count <= segment.Index)
            {
                array.Items.Add(null);
            }

            var item = array.Items[segment.Index];
            if (last)
            {
                if (item is null)
                {
                    array.Items[segment.Index] = value;
                    return true;
                }

                return item is LeafValue ? false : throw Conflict(path, i);
            }

            if (item is null)
            {
                var child = new ObjectNode();
                array.Items[segment.Index] = child;
                current = child;
            }
            else
            {
                current = item as ObjectNode ?? throw Conflict(path, i);
            }
        }

        throw new InvalidOperationException("an element path cannot be empty");
    }

    /// <summary>Writes the resource as JSON: <c>resourceType</c>, then <c>id</c>, then the elements in the order the rules first touched them.</summary>
    public string WriteJson(string resourceType, string id, ArrayBufferWriter<byte> buffer)
    {
        buffer.ResetWrittenCount();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("resourceType", resourceType);
            writer.WriteString("id", id);
            WriteProperties(writer, _root);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteProperties(Utf8JsonWriter writer, ObjectNode node)
    {
        foreach (var (name, value) in node.Properties)
        {
            if (IsEmpty(value))
            {
                continue;
            }

            writer.WritePropertyName(name);
            WriteValue(writer, value);
        }
    }

    private static void WriteValue(Utf8JsonWriter writer, object value)
    {
        switch (value)
        {
            case LeafValue leaf:
                switch (leaf.Kind)
                {
                    case LeafKind.String:
                        writer.WriteStringValue(leaf.Text);
                        break;
                    default:
                        writer.WriteRawValue(leaf.Text, skipInputValidation: false);
                        break;
                }

                break;
            case ObjectNode obj:
                writer.WriteStartObject();
                WriteProperties(writer, obj);
                writer.WriteEndObject();
                break;
            case ArrayNode array:
                writer.WriteStartArray();
                foreach (var item in array.Items)
                {
                    if (item is not null && !IsEmpty(item))
                    {
                        WriteValue(writer, item);
                    }
                }

                writer.WriteEndArray();
                break;
        }
    }

    private static bool IsEmpty(object value) => value switch
    {
        LeafValue => false,
        ObjectNode obj => obj.Properties.TrueForAll(p => IsEmpty(p.Value)),
        ArrayNode array => array.Items.TrueForAll(i => i is null || IsEmpty(i)),
        _ => true,
    };

    private static PathConflictException Conflict(IReadOnlyList<PathSegment> path, int at) =>
        new($"mapping error: rules disagree on the shape of '{ElementPath.ToString(path.Take(at + 1).ToList())}' (a value in one rule, an object or list in another)");
}
