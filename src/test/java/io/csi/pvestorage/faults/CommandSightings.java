package io.csi.pvestorage.faults;

import io.csi.pvestorage.exec.ProcessTable;
import io.csi.pvestorage.storage.FencedCommandRunner;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Watches /proc every 20 ms for the commands of one storage's lock holders (by the
 * marker {@link FencedCommandRunner} puts in their environment), from outside the holders: a
 * frozen or killed holder cannot report its commands, and its orphans keep running.
 */
final class CommandSightings implements AutoCloseable {

  /** First and last time a command was seen running. */
  record Seen(String holder, long pid, Instant first, Instant last) {}

  /** Often enough to order commands seconds apart, rarely enough not to load the machine. */
  private static final long POLL_MILLIS = 20;

  private final Map<Long, Seen> seen = new ConcurrentHashMap<>();
  private final AtomicInteger overlaps = new AtomicInteger();
  private final AtomicBoolean watching = new AtomicBoolean(true);
  private final Thread watcher;

  CommandSightings(String storage) {
    watcher = Thread.ofPlatform().daemon().name("command-sightings").start(() -> {
      while (watching.get()) {
        Instant now = Instant.now();
        List<ProcessTable.MarkedProcess> running = ProcessTable.system()
            .withEnvironment(FencedCommandRunner.STORAGE_VARIABLE, storage);
        if (running.stream().map(p -> p.environment().get(FencedCommandRunner.HOLDER_VARIABLE))
            .distinct().count() > 1) {
          overlaps.incrementAndGet();
        }
        for (ProcessTable.MarkedProcess p : running) {
          seen.merge(p.pid(), new Seen(p.environment().get(FencedCommandRunner.HOLDER_VARIABLE),
              p.pid(), now, now), (old, fresh) -> new Seen(old.holder(), old.pid(), old.first(),
              fresh.last()));
        }
        try {
          Thread.sleep(POLL_MILLIS);
        } catch (InterruptedException e) {
          return;
        }
      }
    });
  }

  /** Every command seen so far, in the order they appeared. */
  List<Seen> all() {
    return seen.values().stream().sorted(Comparator.comparing(Seen::first)).toList();
  }

  /** The commands of {@code holder}, in the order they appeared. */
  List<Seen> of(String holder) {
    return all().stream().filter(s -> s.holder().equals(holder)).toList();
  }

  /** How many sightings found commands of two holders running at once. */
  int overlaps() {
    return overlaps.get();
  }

  @Override
  public void close() throws InterruptedException {
    watching.set(false);
    watcher.join(5_000);
  }
}
