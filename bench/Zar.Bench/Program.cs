if (args.Length == 3 && args[0] == "erofs")
{
    Zar.Bench.ErofsBench.Run(args[1], args[2]);
    return;
}
if (args.Length >= 3 && args[0] == "erofs-write")
{
    using var src = new Zar.Sources.Host.HostDirectory(args[1]);
    var r = Zar.Formats.Erofs.ErofsWriter.Write(src, args[2], new Zar.Formats.Erofs.ErofsWriterOptions { OverlayWhiteouts = args.Contains("--whiteouts") });
    Console.WriteLine(r);
    return;
}
Console.Error.WriteLine("usage: Zar.Bench erofs TREE WORKDIR | erofs-write TREE OUT [--whiteouts]");
Environment.Exit(2);
