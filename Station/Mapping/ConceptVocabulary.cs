namespace HealthTrain.Station.Mapping;

/// <summary>One OMOP concept: its vocabulary, its code in that vocabulary and its name.</summary>
public sealed record OmopConcept(string VocabularyId, string Code, string Name);

/// <summary>
/// The OMOP CONCEPT table in memory (concept id → vocabulary, code, name), optionally restricted to the vocabularies a
/// mapping can use. This is the one part of an OMOP run whose memory grows with the input: with a full vocabulary
/// download, keep only the vocabularies you map.
/// </summary>
public sealed class ConceptVocabulary
{
    private readonly Dictionary<string, OmopConcept> _concepts = new(StringComparer.Ordinal);

    /// <summary>The number of concepts held.</summary>
    public int Count => _concepts.Count;

    /// <summary>The concept with this id, or null.</summary>
    public OmopConcept? Find(string conceptId) => _concepts.GetValueOrDefault(conceptId);

    /// <summary>Loads a CONCEPT table; returns the vocabulary, or an error about the file.</summary>
    internal static (ConceptVocabulary? Vocabulary, string? Error) Load(Stream stream, string fileName, VocabularyDefinition definition, char delimiter, bool caseSensitiveColumns)
    {
        using var csv = new CsvReader(stream, delimiter);
        if (!csv.TryRead(out var header) || header.Error is not null)
        {
            return (null, $"{fileName}: cannot read the header{(header?.Error is null ? "" : ": " + header.Error)}");
        }

        var comparer = caseSensitiveColumns ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;
        int IndexOf(string name)
        {
            for (var i = 0; i < header.Fields.Count; i++)
            {
                if (comparer.Equals(header.Fields[i].Trim(), name))
                {
                    return i;
                }
            }

            return -1;
        }

        var id = IndexOf(definition.IdColumn);
        var vocabulary = IndexOf(definition.VocabularyColumn);
        var code = IndexOf(definition.CodeColumn);
        var name = IndexOf(definition.NameColumn);
        var missing = new[] { (id, definition.IdColumn), (vocabulary, definition.VocabularyColumn), (code, definition.CodeColumn), (name, definition.NameColumn) }
            .Where(c => c.Item1 < 0).Select(c => c.Item2).ToList();
        if (missing.Count > 0)
        {
            return (null, $"{fileName}: missing column(s) {string.Join(", ", missing)}; found {string.Join(", ", header.Fields)}");
        }

        var keep = definition.KeepVocabularies.Count == 0 ? null : new HashSet<string>(definition.KeepVocabularies, StringComparer.Ordinal);
        var result = new ConceptVocabulary();
        var vocabularies = new Dictionary<string, string>(StringComparer.Ordinal);
        var width = Math.Max(Math.Max(id, vocabulary), Math.Max(code, name)) + 1;
        while (csv.TryRead(out var row))
        {
            if (row.Error is not null)
            {
                return (null, $"{fileName}:{row.Line}: {row.Error}");
            }

            if (row.Fields.Count < width)
            {
                return (null, $"{fileName}:{row.Line}: has {row.Fields.Count} fields, the header has {header.Fields.Count}");
            }

            var vocabularyId = row.Fields[vocabulary].Trim();
            if (keep is not null && !keep.Contains(vocabularyId))
            {
                continue;
            }

            // Intern vocabulary ids: there are a few dozen of them and millions of concepts.
            if (!vocabularies.TryGetValue(vocabularyId, out var interned))
            {
                vocabularies[vocabularyId] = interned = vocabularyId;
            }

            result._concepts.TryAdd(row.Fields[id].Trim(), new OmopConcept(interned, row.Fields[code].Trim(), row.Fields[name].Trim()));
        }

        return (result, null);
    }
}
