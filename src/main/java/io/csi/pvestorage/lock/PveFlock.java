package io.csi.pvestorage.lock;

import com.sun.jna.LastErrorException;
import com.sun.jna.Library;
import com.sun.jna.Native;
import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.random.RandomGenerator;

/**
 * The lock file Proxmox VE takes around storage changes: an exclusive {@code flock(2)} on {@code
 * /var/lock/pve-manager/pve-storage-<storeid>} (PVE's {@code cluster_lock_storage} for
 * non-shared storages such as lvmthin and zfspool). Holding it makes this driver and the host's
 * own {@code pvesm}/{@code qm} exclude each other, and two driver processes on one host too.
 *
 * <h2>Why JNA and not {@code FileChannel.lock()}</h2>
 *
 * Java's {@link java.nio.channels.FileChannel#lock()} takes POSIX record locks ({@code fcntl
 * F_SETLK}) on Linux. Record locks and {@code flock(2)} locks are independent in the kernel: a
 * process holding one does not exclude a process asking for the other, so a {@code FileChannel}
 * lock would silently not exclude PVE's Perl code. This class therefore calls libc's {@code
 * open} and {@code flock} through JNA. A held child process of util-linux {@code flock} was the
 * alternative; it was not taken because the lock would outlive this JVM if it were killed (the
 * child keeps the descriptor), it costs a fork per operation, and it needs a protocol to learn
 * when the child holds the lock. With JNA the descriptor belongs to this process: the kernel
 * drops the lock when the process dies, as it does for PVE.
 *
 * <h2>Semantics</h2>
 *
 * The file (and directory) is created when missing, opened for append as PVE does, and locked
 * with {@code LOCK_EX | LOCK_NB}, retried with jittered back-off until the deadline (a blocking
 * {@code flock} cannot be given a timeout without signals). Waiting past the deadline fails with
 * ABORTED. The lock is not re-entrant: callers take it once per operation, after the Lease.
 */
public final class PveFlock {

  /** Where PVE keeps its storage lock files. */
  public static final Path PVE_LOCK_DIRECTORY = Path.of("/var/lock/pve-manager");

  // Linux generic values (x86_64 and aarch64 share them).
  private static final int O_WRONLY = 01;
  private static final int O_CREAT = 0100;
  private static final int O_APPEND = 02000;
  private static final int O_CLOEXEC = 02000000;
  private static final int LOCK_EX = 2;
  private static final int LOCK_NB = 4;
  private static final int LOCK_UN = 8;
  private static final int EINTR = 4;
  private static final int EWOULDBLOCK = 11;

  /** The part of libc used here. {@code open} is variadic, hence {@code Object...}. */
  interface LibC extends Library {
    int open(String path, int flags, Object... mode) throws LastErrorException;

    int flock(int fd, int operation) throws LastErrorException;

    int close(int fd) throws LastErrorException;
  }

  /** The lock file name of a storage is this prefix plus the storage ID. */
  private static final String PVE_PREFIX = "pve-storage-";

  /** The gate file name of a storage is this prefix plus the storage ID. */
  private static final String LAUNCH_PREFIX = "launch-";

  private final Path directory;
  private final String prefix;
  private final String otherHolders;
  private final Clock clock;
  private final RandomGenerator random;
  private final Sleeper sleeper;

  /**
   * libc, bound on first use and shared: binding it costs JNA's native start-up (over a second
   * on a busy machine, far more in an emulated VM), which must not delay the CSI socket of a
   * driver that builds its launch gates at start.
   */
  private static final class Libc {
    static final LibC INSTANCE = Native.load("c", LibC.class);
  }

  /**
   * @param directory where the lock files are, normally {@link #PVE_LOCK_DIRECTORY}
   */
  public PveFlock(Path directory, Clock clock, RandomGenerator random, Sleeper sleeper) {
    this(directory, PVE_PREFIX, "a Proxmox VE tool such as pvesm or qm, or another process of"
        + " this driver", clock, random, sleeper);
  }

  private PveFlock(Path directory, String prefix, String otherHolders, Clock clock,
      RandomGenerator random, Sleeper sleeper) {
    this.directory = Objects.requireNonNull(directory, "directory");
    this.prefix = prefix;
    this.otherHolders = otherHolders;
    this.clock = Objects.requireNonNull(clock, "clock");
    this.random = Objects.requireNonNull(random, "random");
    this.sleeper = Objects.requireNonNull(sleeper, "sleeper");
  }

  /**
   * The launch gate of the storages: {@code <directory>/launch-<storeid>}, the same flock
   * mechanism on files of this driver only. A lock holder keeps its storage's gate from its
   * fencing check until the command's process exists; a new holder takes it before it looks for
   * commands of the previous holder, so a check and its launch can never straddle that look.
   *
   * @param directory a directory every driver process of the node shares (the chart mounts one
   *     from the host)
   */
  public static PveFlock launchGate(Path directory, Clock clock, RandomGenerator random,
      Sleeper sleeper) {
    return new PveFlock(directory, LAUNCH_PREFIX, "another process of this driver, between its"
        + " lock check and the start of its command (it may be frozen there)", clock, random,
        sleeper);
  }

  /**
   * The lock file of a storage: {@code <directory>/pve-storage-<storeid>}, PVE's name (or
   * {@code launch-<storeid>} for a {@link #launchGate}).
   */
  public Path pathFor(String storeid) {
    if (storeid.isEmpty() || storeid.contains("/") || storeid.startsWith(".")) {
      throw new StorageException(ErrorKind.INVALID, "not a storage ID: '" + storeid + "'");
    }
    return directory.resolve(prefix + storeid);
  }

  /**
   * Takes the exclusive flock of {@code storeid}, waiting until {@code deadline}.
   *
   * @throws StorageException ABORTED when another process holds it past the deadline or the
   *     thread is interrupted; UNAVAILABLE when the file cannot be created or opened
   */
  public Held acquire(String storeid, Instant deadline) {
    Path path = pathFor(storeid);
    int fd = open(path);
    boolean locked = false;
    try {
      long backoffMillis = 5;
      while (true) {
        if (tryLock(fd, path)) {
          locked = true;
          return new Held(fd, path);
        }
        Instant now = clock.instant();
        if (!now.isBefore(deadline)) {
          throw new StorageException(
              ErrorKind.ABORTED,
              "can't lock file '"
                  + path
                  + "' - held by another process (" + otherHolders + ") until the deadline");
        }
        long sleep = Math.min(backoffMillis / 2 + random.nextLong(backoffMillis / 2 + 1),
            Duration.between(now, deadline).toMillis() + 1);
        try {
          sleeper.sleep(Duration.ofMillis(sleep));
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new StorageException(
              ErrorKind.ABORTED, "interrupted while waiting for lock file '" + path + "'", e);
        }
        backoffMillis = Math.min(backoffMillis * 2, 200);
      }
    } finally {
      if (!locked) {
        closeQuietly(fd);
      }
    }
  }

  private int open(Path path) {
    try {
      Files.createDirectories(directory);
    } catch (IOException e) {
      throw new StorageException(
          ErrorKind.UNAVAILABLE, "cannot create lock directory '" + directory + "': " + e, e);
    }
    try {
      return Libc.INSTANCE.open(path.toString(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
          0644);
    } catch (LastErrorException e) {
      throw new StorageException(
          ErrorKind.UNAVAILABLE,
          "cannot open lock file '" + path + "': errno " + e.getErrorCode(),
          e);
    }
  }

  private boolean tryLock(int fd, Path path) {
    while (true) {
      try {
        Libc.INSTANCE.flock(fd, LOCK_EX | LOCK_NB);
        return true;
      } catch (LastErrorException e) {
        if (e.getErrorCode() == EWOULDBLOCK) {
          return false;
        }
        if (e.getErrorCode() != EINTR) {
          throw new StorageException(
              ErrorKind.UNAVAILABLE,
              "flock of '" + path + "' failed: errno " + e.getErrorCode(),
              e);
        }
      }
    }
  }

  private void closeQuietly(int fd) {
    try {
      Libc.INSTANCE.close(fd);
    } catch (LastErrorException e) {
      // Nothing to do: the descriptor is gone either way, and with it any lock.
    }
  }

  /** A held flock; {@link #close()} unlocks and closes the descriptor. */
  public final class Held implements AutoCloseable {
    private final int fd;
    private final Path path;
    private final AtomicBoolean closed = new AtomicBoolean();

    private Held(int fd, Path path) {
      this.fd = fd;
      this.path = path;
    }

    /** The locked file. */
    public Path path() {
      return path;
    }

    /** Unlocks (closing the descriptor would too; the explicit unlock documents intent). */
    @Override
    public void close() {
      if (closed.compareAndSet(false, true)) {
        try {
          Libc.INSTANCE.flock(fd, LOCK_UN);
        } catch (LastErrorException e) {
          // close() below drops the lock regardless.
        }
        closeQuietly(fd);
      }
    }
  }
}
