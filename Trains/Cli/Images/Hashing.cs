using System.Security.Cryptography;
using System.Text;

namespace HealthTrain.Cli.Images;

/// <summary>SHA-256 helpers producing lower-case hex, the form used in tags and file lists.</summary>
internal static class Hashing
{
    public static string Sha256Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    public static string Sha256HexOfFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
