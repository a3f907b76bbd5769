using System.Text;

namespace HealthTrain.Trains.Sdk.Training;

/// <summary>
/// A deterministic split of a station's records into a training part and a held-out part: a record is held out when
/// the 64-bit hash of <c>"{seed}:{recordId}"</c> (UTF-8, FNV-1a then MurmurHash3's fmix64 finaliser), read as a
/// fraction of 2⁶⁴, is below the held-out fraction. The same record id and seed give the same side in every round, on
/// every machine, whatever order the records come in.
/// </summary>
/// <remarks>
/// Not SHA-256: .NET's cryptography needs libssl, which train images leave out. The split needs a stable, well-mixed
/// hash, not a cryptographic one.
/// </remarks>
public static class HeldOutSplit
{
    /// <summary>True when <paramref name="recordId"/> belongs to the held-out part.</summary>
    /// <param name="recordId">A stable id of the record, e.g. the patient key, or a content hash for images.</param>
    /// <param name="seed">The run's seed (<see cref="RoundInfo.Seed"/>).</param>
    /// <param name="heldOutFraction">Between 0 (nothing held out) and 1 (everything).</param>
    public static bool IsHeldOut(string recordId, long seed, double heldOutFraction)
    {
        ArgumentNullException.ThrowIfNull(recordId);
        if (!(heldOutFraction is >= 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(heldOutFraction), heldOutFraction, "must be between 0 and 1");
        if (heldOutFraction == 0) return false;
        if (heldOutFraction == 1) return true;
        return Position(recordId, seed) < heldOutFraction;
    }

    /// <summary>Where the record falls in [0, 1): uniform over record ids for a given seed.</summary>
    public static double Position(string recordId, long seed)
    {
        // 53 bits, so the double is exact.
        return (Hash64(Encoding.UTF8.GetBytes($"{seed}:{recordId}")) >> 11) / (double)(1UL << 53);
    }

    /// <summary>FNV-1a over the bytes, then fmix64 so that nearby inputs land far apart.</summary>
    public static ulong Hash64(ReadOnlySpan<byte> bytes)
    {
        var h = 14695981039346656037UL;
        foreach (var b in bytes) h = (h ^ b) * 1099511628211UL;
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdUL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53UL;
        h ^= h >> 33;
        return h;
    }

    /// <summary>Splits <paramref name="records"/> by their ids, keeping each part in input order.</summary>
    public static (List<T> Training, List<T> HeldOut) Split<T>(IEnumerable<T> records, Func<T, string> recordId, long seed, double heldOutFraction)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(recordId);
        var training = new List<T>();
        var heldOut = new List<T>();
        foreach (var record in records) (IsHeldOut(recordId(record), seed, heldOutFraction) ? heldOut : training).Add(record);
        return (training, heldOut);
    }

    /// <summary>A record id for content without one (an image): the 16 hex digits of <see cref="Hash64"/> of its bytes.</summary>
    public static string ContentId(ReadOnlySpan<byte> content) => Hash64(content).ToString("x16");
}
