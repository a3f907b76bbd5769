using Microsoft.Playwright;

namespace HealthTrain.EndToEnd.Tests.Browser;

/// <summary>
/// Playwright driving Debian's chromium (installed by <c>./healthtrain test</c>); Playwright's own browser download is
/// never used, so tests run offline and in CI the same way.
/// </summary>
public static class Chromium
{
    public const string ExecutablePath = "/usr/bin/chromium";

    private static readonly string[] Args =
    [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
    ];

    /// <summary>A headless chromium; dispose the returned Playwright after the browser.</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        if (!File.Exists(ExecutablePath))
            throw new InvalidOperationException($"{ExecutablePath} is missing: ./healthtrain test installs Debian's chromium package");
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ExecutablePath,
                Headless = true,
                Args = Args,
            });
            return (playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A page that waits up to 90 s for anything: the suite shares two cores with hub, stations and containers, and a
    /// page that is merely slow must not fail a test.
    /// </summary>
    public static async Task<IPage> NewPageAsync(IBrowser browser, BrowserNewPageOptions? options = null)
    {
        var page = await browser.NewPageAsync(options);
        page.SetDefaultTimeout(90_000);
        page.SetDefaultNavigationTimeout(90_000);
        return page;
    }

    /// <summary>
    /// Where a screenshot of a main page goes: docs/screenshots in the repository when HEALTHTRAIN_SCREENSHOTS=1 (to
    /// refresh the pictures the docs show), else a scratch folder, so a test run leaves the checkout as it was.
    /// </summary>
    public static string ScreenshotPath(string name)
    {
        var folder = Environment.GetEnvironmentVariable("HEALTHTRAIN_SCREENSHOTS") == "1"
            ? Path.Combine(HealthTrain.Cli.RepoPaths.Root, "docs", "screenshots")
            : Path.Combine(Path.GetTempPath(), "healthtrain-screenshots");
        Directory.CreateDirectory(folder);
        return Path.Combine(folder, name + ".png");
    }
}
