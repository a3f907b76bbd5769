namespace HealthTrain.Fixtures.MisbehavingTrain;

/// <summary>
/// What an attack behaviour tried and what happened, one line each on stderr (the station keeps the last lines of a
/// failed job). Ends with exit code 10 when every attempt was blocked and 11 when any got through: a non-zero exit
/// either way, so the station records the report.
/// </summary>
internal sealed class AttackReport(string behaviour)
{
    public const int Contained = 10;
    public const int NotContained = 11;

    private int _attempts;
    private int _escaped;

    public void Blocked(string attempt, string how)
    {
        _attempts++;
        Say($"{attempt} -> blocked: {how}");
    }

    public void Escaped(string attempt, string what)
    {
        _attempts++;
        _escaped++;
        Say($"{attempt} -> ESCAPED: {what}");
    }

    /// <summary>Runs one attempt: it returns what it achieved (escaped) or throws (blocked, with the error's message).</summary>
    public void Try(string attempt, Func<string> act)
    {
        string achieved;
        try
        {
            achieved = act();
        }
        catch (Exception e)
        {
            Blocked(attempt, Describe(e));
            return;
        }
        Escaped(attempt, achieved);
    }

    public void Note(string text) => Say("note: " + text);

    public void Say(string text)
    {
        Console.Error.WriteLine($"misbehaving-train: {behaviour}: {text}");
        Console.Error.Flush();
    }

    public int Finish()
    {
        if (_escaped == 0)
        {
            Say($"contained: all {_attempts} attempts were blocked");
            return Contained;
        }
        Say($"NOT CONTAINED: {_escaped} of {_attempts} attempts got through");
        return NotContained;
    }

    public static string Describe(Exception e) => e switch
    {
        System.Net.Sockets.SocketException s => $"{s.SocketErrorCode} ({s.Message})",
        _ => e.Message.ReplaceLineEndings(" "),
    };
}
