package io.csi.pvestorage.app;

import io.csi.pvestorage.app.Flags.UsageException;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.List;

/**
 * Entry point. {@code serve} runs the driver; {@code client} is a CSI client for any endpoint,
 * the operator's debugging tool.
 *
 * <p>Exit codes: 0 success, 1 failure at run time, 2 bad command line.
 */
public final class Main {

  static final String USAGE = """
      usage: pve-storage-csi serve [--flags]      run the CSI driver (serve --help lists the flags)
             pve-storage-csi client [--flags] CMD call a CSI endpoint (client --help lists commands)
             pve-storage-csi version
      """;

  private Main() {}

  public static void main(String[] args) {
    System.exit(run(Arrays.asList(args), System.out, System.err));
  }

  static int run(List<String> args, PrintStream out, PrintStream err) {
    if (args.isEmpty() || args.get(0).equals("--help") || args.get(0).equals("-h")) {
      out.print(USAGE);
      return args.isEmpty() ? 2 : 0;
    }
    List<String> rest = args.subList(1, args.size());
    try {
      return switch (args.get(0)) {
        case "serve" -> ServeCommand.run(rest, System.getenv(), out, err);
        case "client" -> ClientCommand.run(rest, System.getenv(), out, err);
        case "version" -> {
          BuildInfo build = BuildInfo.load();
          out.println("pve-storage-csi " + build.version() + " (CSI " + build.csiSpecVersion() + ")");
          yield 0;
        }
        default -> throw new UsageException("unknown command '" + args.get(0)
            + "' (use serve, client or version)");
      };
    } catch (UsageException e) {
      err.println("pve-storage-csi: error: " + e.getMessage());
      return 2;
    }
  }
}
