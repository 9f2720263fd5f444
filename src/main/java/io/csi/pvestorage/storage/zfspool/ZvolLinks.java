package io.csi.pvestorage.storage.zfspool;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.exec.CommandResult;
import java.lang.System.Logger.Level;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Waits for a zvol's device link {@code /dev/zvol/<pool>/<name>}, which udev makes
 * asynchronously after a create, clone or import (PVE 894b9ec: {@code udevadm settle} alone is
 * not enough), and asks udev again for zvols whose link it never made.
 */
final class ZvolLinks {

  private static final System.Logger LOG = System.getLogger(ZvolLinks.class.getName());

  /** The first look after this; then twice as long each time, up to the poll interval. */
  private static final Duration FIRST_LINK_POLL = Duration.ofMillis(25);
  /** A zvol's whole-disk device name, as it may be passed to udevadm. */
  private static final Pattern ZVOL_DEVICE = Pattern.compile("zd[0-9]{1,6}");
  /** A /dev/zvol link's target ({@code ../../zd16}, {@code ../../../zd16p1}): its disk. */
  private static final Pattern LINKED_ZVOL =
      Pattern.compile("(?:\\.\\./)*(zd[0-9]{1,6})(?:p[0-9]+)?");

  private final String pool;
  private final ZfsRunner zfs;
  private final ZfsPoolPlugin.Options options;
  private final Clock clock;

  ZvolLinks(String pool, ZfsRunner zfs, ZfsPoolPlugin.Options options, Clock clock) {
    this.pool = Objects.requireNonNull(pool, "pool");
    this.zfs = Objects.requireNonNull(zfs, "zfs");
    this.options = Objects.requireNonNull(options, "options");
    this.clock = Objects.requireNonNull(clock, "clock");
  }

  /**
   * Returns once {@code test -b /dev/zvol/<pool>/<name>} succeeds.
   *
   * @throws io.csi.pvestorage.error.StorageException UNAVAILABLE after {@link
   *     ZfsPoolPlugin.Options#deviceLinkTimeout()} without the link
   */
  void await(String name) {
    String link = "/dev/zvol/" + pool + "/" + name;
    Instant start = clock.instant();
    Instant deadline = start.plus(options.deviceLinkTimeout());
    Instant askAgain = start.plus(options.deviceLinkTimeout().dividedBy(3));
    boolean askedAgain = false;
    // udev usually makes the link within tens of milliseconds: look again soon, then back off
    // to the poll interval, so a create is not held up a whole interval for nothing.
    Duration pause = FIRST_LINK_POLL.compareTo(options.pollInterval()) < 0
        ? FIRST_LINK_POLL : options.pollInterval();
    while (true) {
      CommandResult test = zfs.run(ZfsCommands.isBlockDevice(link));
      if (test.succeeded()) {
        return;
      }
      Instant now = clock.instant();
      if (!now.isBefore(deadline)) {
        throw test.failure(ErrorKind.UNAVAILABLE, "timeout: no zvol device link for '" + name
            + "' found after " + options.deviceLinkTimeout().toSeconds() + " s");
      }
      if (!askedAgain && !now.isBefore(askAgain)) {
        askedAgain = true;
        askUdevAgain(link, Duration.between(start, now), Duration.between(now, deadline));
        continue;
      }
      zfs.pause(pause);
      pause = pause.multipliedBy(2).compareTo(options.pollInterval()) < 0
          ? pause.multipliedBy(2) : options.pollInterval();
    }
  }

  /**
   * udev runs {@code zvol_id} for every new zvol to name its link, and kills it when it takes
   * too long, as it does when many zvols appear at once (OpenZFS #756, #12484): the link is then
   * never made. Asks udev once more for each zvol device no {@code /dev/zvol} link points to, and
   * waits for udev's queue to empty. Best effort: a failure here only means waiting on.
   */
  private void askUdevAgain(String link, Duration waited, Duration left) {
    CommandResult links = zfs.run(ZfsCommands.zvolLinkTargets());
    CommandResult devices = zfs.run(ZfsCommands.zvolDevices());
    if (!devices.succeeded()) {
      LOG.log(Level.WARNING, "no {0} yet; cannot list the zvol devices: {1}", link,
          devices.stderrText().strip());
      return;
    }
    Set<String> linked = new HashSet<>();
    // Without any link /dev/zvol does not exist and find fails: then nothing is linked.
    for (String target : links.stdoutText().split("\n")) {
      Matcher m = LINKED_ZVOL.matcher(target.strip());
      if (m.matches()) {
        linked.add(m.group(1));
      }
    }
    List<String> unlinked = new ArrayList<>();
    for (String device : devices.stdoutText().split("\n")) {
      String zd = device.strip();
      if (ZVOL_DEVICE.matcher(zd).matches() && !linked.contains(zd)) {
        unlinked.add(zd);
      }
    }
    if (unlinked.isEmpty()) {
      LOG.log(Level.WARNING, "no {0} yet, and every zvol device has its link; waiting for ZFS "
          + "to make the device", link);
      return;
    }
    LOG.log(Level.WARNING, "no {0} after {1} s; asking udev again for the zvol devices without "
        + "a link: {2}", link, waited.toSeconds(), unlinked);
    CommandResult trigger = zfs.run(ZfsCommands.udevTrigger(unlinked));
    if (!trigger.succeeded()) {
      LOG.log(Level.WARNING, "udevadm trigger failed: {0}", trigger.stderrText().strip());
      return;
    }
    long settle = Math.max(1, Math.min(10, left.toSeconds()));
    CommandResult settled = zfs.run(ZfsCommands.udevSettle(settle));
    if (!settled.succeeded()) {
      LOG.log(Level.WARNING, "udevadm settle: {0}", settled.stderrText().strip());
    }
  }
}
