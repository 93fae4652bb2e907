using Zar.Model;

namespace Zar.Cli;

static class Errors
{
    /// <summary>Runs a command body, turning every failure into one line on stderr and an exit code: never a stack trace.</summary>
    public static int Guard(Func<int> body)
    {
        try { return body(); }
        catch (ZarException e) { return Fail(e.Message, e.ExitCode); }
        catch (IOException e) { return Fail(e.Message, 2); }
        catch (UnauthorizedAccessException e) { return Fail(e.Message, 2); }
        catch (Exception e) { return Fail($"internal error: {e.GetType().Name}: {e.Message}", 3); }
    }

    static int Fail(string message, int code)
    {
        Console.Out.Flush();
        Console.Error.WriteLine($"zar: {message.ReplaceLineEndings(" ")}");
        return code;
    }
}
