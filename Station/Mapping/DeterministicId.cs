using System.Security.Cryptography;
using System.Text;

namespace HealthTrain.Station.Mapping;

/// <summary>
/// Name-based UUIDs (RFC 9562 version 5, SHA-1) for rows without ids of their own: the same table and key values
/// give the same id on every run, so re-ingesting an export updates resources instead of duplicating them.
/// </summary>
public static class DeterministicId
{
    // U+001F (unit separator) keeps ("a|b", "c") and ("a", "b|c") apart; it does not occur in real key values.
    private const char Separator = '\u001F';

    /// <summary>The UUID v5 of <paramref name="name"/> in <paramref name="namespaceId"/>.</summary>
    public static Guid Create(Guid namespaceId, string name)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        var input = new byte[16 + nameBytes.Length];
        namespaceId.TryWriteBytes(input, bigEndian: true, out _);
        nameBytes.CopyTo(input, 16);
        Span<byte> hash = stackalloc byte[20];
        SHA1.HashData(input, hash);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash[..16], bigEndian: true);
    }

    /// <summary>The id of a row of <paramref name="table"/> with these key values, as a lower-case UUID string.</summary>
    public static string ForRow(Guid namespaceId, string table, IReadOnlyList<string> keyValues)
    {
        var name = new StringBuilder(table);
        foreach (var value in keyValues)
        {
            name.Append(Separator).Append(value);
        }

        return Create(namespaceId, name.ToString()).ToString("D");
    }
}
