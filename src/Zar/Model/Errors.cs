namespace Zar.Model;

/// <summary>
/// Every error Zar reports to a user: the message is one line that names the file and what is wrong.
/// The CLI prints it and exits with <see cref="ExitCode"/> (2: bad input or usage).
/// </summary>
public class ZarException(string message, Exception? inner = null) : Exception(message, inner)
{
    public virtual int ExitCode => 2;
}

/// <summary>A file is not a valid image/archive of the format it claims (truncated, corrupted, foreign).</summary>
public class ZarFormatException(string message, Exception? inner = null) : ZarException(message, inner);

public class ZarNotFoundException(string message) : ZarException(message);

/// <summary>A feature of a valid input that Zar does not handle (e.g. compressed EROFS).</summary>
public class ZarNotSupportedException(string message) : ZarException(message);
