package io.csi.pvestorage.exec;

import java.lang.System.Logger.Level;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BiConsumer;
import java.util.function.LongSupplier;

/**
 * The commands now running, by scope (a storage ID, or {@link #NODE} for mount, mkfs and the
 * other node-side commands). Since a command that changes storage is never killed, one that
 * hangs (lvm waiting for udev forever is the classic case) must at least be seen: this registry
 * is what the oldest-command gauge, readiness and the storage lock's refusal read, and it
 * reports a command that passes its expected time ({@link Command#timeout()}) as stalled.
 *
 * <p>Reads are cheap (a scan of the few entries), so Probe-like callers may ask at any time.
 */
public final class RunningCommands {

  /** The scope of commands that belong to no storage (mount, mkfs, stat, ...). */
  public static final String NODE = "";

  private static final System.Logger LOG = System.getLogger(RunningCommands.class.getName());

  private final Set<Entry> entries = ConcurrentHashMap.newKeySet();
  private final List<BiConsumer<String, String>> stallListeners = new CopyOnWriteArrayList<>();
  private final LongSupplier nanoTime;

  public RunningCommands() {
    this(System::nanoTime);
  }

  /** @param nanoTime the monotonic clock ages are measured with (a fake in tests) */
  public RunningCommands(LongSupplier nanoTime) {
    this.nanoTime = Objects.requireNonNull(nanoTime, "nanoTime");
  }

  /** One running command. */
  public final class Entry {
    private final String scope;
    private final String verb;
    private final long pid;
    private final long startNanos;
    private final Duration expected;
    private final boolean readOnly;

    private Entry(String scope, Command command, long pid) {
      this.scope = scope;
      this.verb = command.verb();
      this.pid = pid;
      this.startNanos = nanoTime.getAsLong();
      this.expected = command.timeout();
      this.readOnly = command.readOnly();
    }

    public String scope() {
      return scope;
    }

    public String verb() {
      return verb;
    }

    public long pid() {
      return pid;
    }

    /** How long it has been running. */
    public Duration age() {
      return Duration.ofNanos(nanoTime.getAsLong() - startNanos);
    }

    public boolean readOnly() {
      return readOnly;
    }

    /** A command that changes storage and has run longer than it should. */
    public boolean stalled() {
      return !readOnly && age().compareTo(expected) > 0;
    }

    /**
     * For operators: what runs where, for how long, against what was expected, and what to do,
     * e.g. {@code lvcreate (pid 4242) has been running for 312 s on storage local-lvm, ...}.
     */
    public String describeStall() {
      return verb + " (pid " + pid + ") has been running for " + human(age()) + " "
          + where(scope) + ", longer than the " + human(expected) + " it should take;"
          + " it changes storage, so it is never killed: find out on the node what it waits"
          + " for (udev, a suspended device, a full pool)";
    }

    @Override
    public String toString() {
      return verb + " (pid " + pid + ", " + human(age()) + " " + where(scope) + ")";
    }
  }

  /** Whole seconds from 10 s on, milliseconds below. */
  static String human(Duration d) {
    return d.compareTo(Duration.ofSeconds(10)) >= 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  /** The words for a scope in messages. */
  public static String where(String scope) {
    return scope.equals(NODE) ? "on this node" : "on storage " + scope;
  }

  /** Records a command whose process {@code pid} has just started. */
  public Entry started(String scope, Command command, long pid) {
    Entry entry = new Entry(Objects.requireNonNull(scope, "scope"), command, pid);
    entries.add(entry);
    return entry;
  }

  /** Forgets a command that has ended (or was killed). */
  public void finished(Entry entry) {
    entries.remove(entry);
  }

  /**
   * Called by the thread waiting for {@code entry} each time the command passes another
   * multiple of its expected time: logs a WARNING and tells the stall listeners.
   */
  public void reportStall(Entry entry) {
    String message = entry.describeStall();
    LOG.log(Level.WARNING, message);
    for (BiConsumer<String, String> listener : stallListeners) {
      listener.accept(entry.scope, message);
    }
  }

  /** {@code listener} gets (scope, message) each time a command is reported stalled. */
  public void onStall(BiConsumer<String, String> listener) {
    stallListeners.add(Objects.requireNonNull(listener, "listener"));
  }

  /** How long the oldest command of {@code scope} has been running; zero when none runs. */
  public Duration oldest(String scope) {
    return entries.stream().filter(e -> e.scope.equals(scope)).map(Entry::age)
        .max(Comparator.naturalOrder()).orElse(Duration.ZERO);
  }

  /** How many commands of {@code scope} run now. */
  public int count(String scope) {
    return (int) entries.stream().filter(e -> e.scope.equals(scope)).count();
  }

  /** The oldest stalled command of {@code scope}, described for operators. */
  public Optional<String> stall(String scope) {
    return entries.stream().filter(e -> e.scope.equals(scope) && e.stalled())
        .max(Comparator.comparing(Entry::age)).map(Entry::describeStall);
  }

  /** The oldest stalled command of any scope, described for operators. */
  public Optional<String> anyStall() {
    return entries.stream().filter(Entry::stalled)
        .max(Comparator.comparing(Entry::age)).map(Entry::describeStall);
  }

  /** The commands that change storage and run now, oldest first. */
  public List<Entry> changing() {
    return entries.stream().filter(e -> !e.readOnly)
        .sorted(Comparator.comparing(Entry::age).reversed()).toList();
  }
}
