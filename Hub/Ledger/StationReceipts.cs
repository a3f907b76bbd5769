using Dapper;
using HealthTrain.Hub.Storage;
using HealthTrain.Trains.Protocol.Ledger;
using Microsoft.Data.Sqlite;

namespace HealthTrain.Hub.Ledger;

/// <summary>
/// The receipts of each station's own ledger entries: every entry the hub appends because of a station's action on one
/// of its jobs (claimed, awaiting approval, started under an approval, refused, failed, result uploaded) is noted with
/// the station and the size of the tree head signed in that transaction. A station collects them through
/// <c>GET /api/station/receipts?after=INDEX</c> rather than from each call's response: a response lost on the way, or a
/// station restarting between a call and storing its answer, would otherwise lose a receipt for good; here the station
/// asks again from the last index it holds, and also gets the entries the hub wrote about its jobs on its own.
/// </summary>
public sealed class StationReceipts(HubDatabase db, LedgerStore ledger)
{
    /// <summary>Most receipts one request returns.</summary>
    public const int MaxPerPage = 500;

    /// <summary>Notes, in the transaction that appended it, that <paramref name="receipt"/>'s entry belongs to the station.</summary>
    public static void Keep(SqliteConnection connection, SqliteTransaction transaction, long stationId, LedgerReceipt receipt) =>
        connection.Execute("INSERT INTO ledger_station_entries (idx, station_id, tree_size) VALUES (@idx, @stationId, @size)",
            new { idx = receipt.Record.Index, stationId, size = receipt.Head.TreeSize }, transaction);

    /// <summary>
    /// The station's receipts for entries after index <paramref name="after"/>, oldest first: each entry as the hub serves
    /// it now, with its audit path in, and the signature of, the tree head signed when it was appended.
    /// </summary>
    public IReadOnlyList<LedgerReceipt> List(long stationId, long after, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        List<(long Index, long TreeSize)> rows;
        using (var c = db.Open())
            rows = c.Query<(long, long)>("""
                SELECT idx, tree_size FROM ledger_station_entries WHERE station_id = @stationId AND idx > @after ORDER BY idx LIMIT @count
                """, new { stationId, after, count = Math.Min(count, MaxPerPage) }).AsList();
        var receipts = new List<LedgerReceipt>(rows.Count);
        foreach (var (index, treeSize) in rows)
        {
            // An entry row gone from the store has no receipt to give; the station's verification names it as missing.
            if (ledger.Entries(index, 1) is not [var record] || ledger.HeadAt(treeSize) is not { } head) continue;
            receipts.Add(new LedgerReceipt(record, ledger.InclusionProof(index, treeSize), head));
        }
        return receipts;
    }
}
