package io.csi.pvestorage.faults;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.ControllerGrpc;
import csi.v1.NodeGrpc;
import io.csi.pvestorage.conformance.Backend;
import io.csi.pvestorage.conformance.GuestDriver;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.FaultPoint.Moment;
import io.csi.pvestorage.exec.FaultPoint.Plan;
import io.csi.pvestorage.exec.FaultPoint;
import io.csi.pvestorage.faults.CrashTable.Outcome;
import io.csi.pvestorage.faults.CrashTable.Row;
import io.csi.pvestorage.harness.GuestProcess;
import io.csi.pvestorage.harness.GuestResources;
import io.csi.pvestorage.harness.VmHarness;
import io.csi.pvestorage.harness.VmHarnessExtension;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;

/**
 * Crash at every step, on one backend: for every mutating RPC path ({@link CrashPaths}) the
 * call runs once unarmed while the driver counts its commands, then, for each chosen step
 * (before or after the Nth command), the path's state is prepared, the call runs with the
 * driver armed to halt itself at that step, the driver is restarted as the kubelet would, and
 * the same call is retried until it answers OK. Then: the path's own checks (data reads back
 * with the same sha256, the object is there or gone), the objects the call made are as many
 * as in the unarmed run, and after cleanup the guest's LVs, datasets, zvols, snapshots, mounts
 * and directories are exactly those of before the point.
 *
 * <p>Which steps run: every step of every path with {@code -Dfaults.full=true}; otherwise the
 * representative subset of {@link #ciSteps}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@ExtendWith(VmHarnessExtension.class)
@ResourceLock(value = GuestResources.GUEST, mode = ResourceAccessMode.READ_WRITE)
class CrashAtEveryStepIT {

  /** {@code -Dfaults.full=true}: every step of every path, not the CI subset. */
  static final String FULL_PROPERTY = "faults.full";
  /**
   * {@code -Dfaults.paths=NodeStage,CreateVolume from}: only the paths whose names start so
   * (to repeat a finding; a run with it is not the suite's result).
   */
  static final String PATHS_PROPERTY = "faults.paths";
  /** {@code -Dfaults.backends=lvmthin,zvol}: only these backends (to split a full run). */
  static final String BACKENDS_PROPERTY = "faults.backends";
  static final long CALL_SECONDS = 180;
  private static final Duration GUEST_COMMAND_TIMEOUT = Duration.ofSeconds(60);
  /**
   * The drivers' Lease duration: the emulated guest's ({@link
   * GuestDriver#EMULATED_LEASE_DURATION}, 60 s), not the production 15 s. Measured 2026-12-07 at
   * a host load of 22-24: with 15 s, a driver's own renewal was overdue during its first
   * CreateVolume and the call was fenced (UNAVAILABLE "may expire") with nothing else wanting
   * the Lease; with 5 s the same happened at load 15.
   *
   * <p>A crashed holder's Lease would make every point wait up to this long for the restarted
   * driver's takeover. The suite does not: once it has SEEN the halted process exit, it ages
   * the Leases that process left held ({@link GuestDriver#ageLeasesOfDeadProcess}: renew time
   * moved back by the duration, holder kept), and the restarted driver takes them over at once
   * through its real takeover path (it logs {@value #TAKEOVER_LOG}; the table says whether it
   * did). That is honest because the holder is dead: no process can be fenced out under a
   * running operation. A Lease of a process that may still run is never aged. What the takeover
   * costs on the clock (the duration, after a holder is killed or stopped) is measured by
   * LockFaultsIT with real timings (docs/reliability-faults.md), not here.
   */
  private static final String LEASE_DURATION = GuestDriver.EMULATED_LEASE_DURATION;
  /** What the driver logs when it takes over an expired Lease (LeasePool). */
  static final String TAKEOVER_LOG = "took over Lease";
  /** How often the same call is retried after the restart, as a sidecar or kubelet would. */
  private static final int RETRIES = 8;
  private static final Duration RETRY_PAUSE = Duration.ofSeconds(3);
  private static final Set<Status.Code> RETRYABLE = Set.of(Status.Code.UNAVAILABLE,
      Status.Code.ABORTED, Status.Code.DEADLINE_EXCEEDED, Status.Code.RESOURCE_EXHAUSTED);

  final CrashTable table = new CrashTable();
  private VmHarness vm;
  private GuestDriver driver;
  private String faultDir;
  private Inventory suiteBefore;
  private final Deque<Cleanup> cleanups = new ArrayDeque<>();
  private final List<Duration> restarts = new ArrayList<>();
  /** How long each injection point took, from preparing its state to the final inventory. */
  private final List<Duration> pointTimes = new ArrayList<>();
  /** What the suite made in the guest for itself (the AOT cache), removed at the end. */
  private final List<Runnable> afterSuite = new ArrayList<>();

  private record Cleanup(String what, Runnable action) {}

  /** The backend the running path is on; one driver serves all three. */
  private Backend backend;

  Backend backend() {
    return backend;
  }

  private static final List<Backend> BACKENDS =
      List.of(Backend.LVM_THIN, Backend.ZFS_ZVOL, Backend.ZFS_DATASET);

  /**
   * The CI run's paths: the steps the driver's design calls out as crash-sensitive, one per
   * backend (each point costs a driver restart in the emulated guest, and CI's budget is about
   * three minutes): a PVC clone cut between its temporary snapshot and its clone (the defect the
   * suite found; a restore from a snapshot runs the same clone-then-grow), a stage cut between
   * mkfs and mount, a ZFS delete cut inside the hide of a volume that has a snapshot. The full
   * run covers the rest (the online expand cut between the volume's and the filesystem's
   * resize was in this set until the budget left it out).
   */
  static final Map<String, List<String>> CI_PATHS = Map.of(
      Backend.LVM_THIN.name(), List.of("CreateVolume PVC clone, larger"),
      Backend.ZFS_ZVOL.name(), List.of("NodeStageVolume with mkfs"),
      Backend.ZFS_DATASET.name(), List.of("DeleteVolume with a snapshot"));

  /** The guest port of the suite's driver. */
  int guestPort() {
    return 11_000 + Math.floorMod(getClass().getName().hashCode(), 1000);
  }

  /**
   * The step of one path the CI run takes: right after the first command that changes
   * something, where a half-made object exists (the clone before its grow, the temporary
   * snapshot before the clone, the mkfs before the mount, the mark before the rename, the
   * volume's resize before the filesystem's). One step: each costs a driver restart.
   */
  static List<Plan> ciSteps(String method, List<Step> steps) {
    return steps.stream().filter(Step::changes).findFirst()
        .map(s -> List.of(new Plan(method, Moment.AFTER, s.index()))).orElse(List.of());
  }

  /** Every step: before and after each command. */
  static List<Plan> allSteps(String method, List<Step> steps) {
    List<Plan> plans = new ArrayList<>();
    for (Step step : steps) {
      plans.add(new Plan(method, Moment.BEFORE, step.index()));
      plans.add(new Plan(method, Moment.AFTER, step.index()));
    }
    return plans;
  }

  /** One command of a call, as the fault point counted it. */
  record Step(int index, String verb, boolean changes) {
    static Step parse(String line) {
      String[] words = line.strip().split(" ");
      return new Step(Integer.parseInt(words[0]),
          String.join(" ", List.of(words).subList(1, words.length - 1)),
          words[words.length - 1].equals("changes"));
    }
  }

  @BeforeAll
  void startDriver(VmHarness vm) throws InterruptedException {
    this.vm = vm;
    faultDir = must("mktemp", "-d", "/tmp/csi-faults.XXXXXX").stdoutText().strip();
    GuestDriver.Jvm jvm = hostAotCache();
    long start = System.nanoTime();
    driver = startSuiteDriver(jvm);
    System.out.println("crash suite: driver up in "
        + Duration.ofNanos(System.nanoTime() - start).toMillis() + " ms: " + startProfile());
    long[] cached = HostAotCache.countCachedClasses(classLoadLog());
    assertTrue(cached[0] * 2 > cached[1], "most of the driver's classes come from the AOT"
        + " cache made on the host: " + cached[0] + " of " + cached[1]);
    must("mkdir", "-p", stagingParent(), targetParent());
    suiteBefore = inventory();
  }

  private GuestDriver startSuiteDriver(GuestDriver.Jvm jvm) throws InterruptedException {
    return GuestDriver.start(vm, guestPort(), GuestDriver.LockMode.LEASE, Duration.ofHours(1),
        List.of("--fault-injection-dir", faultDir, "--lease-duration", LEASE_DURATION),
        Map.of(FaultPoint.ENABLE_ENV, FaultPoint.ENABLE_VALUE), jvm);
  }

  /**
   * Makes a driver restart in the emulated guest cheap: a JDK AOT cache (classes loaded and
   * linked ahead of time, JEP 483/515). Without it every restart loads and verifies the classes
   * of gRPC, Netty, fabric8 and protobuf again, from jars read over 9p, with an emulated CPU:
   * minutes per injection point at load. The cache is assembled on the host ({@link
   * HostAotCache}: the guest runs the host's JDK and this jar, so it fits; seconds there
   * against the ten minutes a training run took in the guest) and copied once to the guest's
   * own disk. The suite's drivers map it with {@code -XX:AOTMode=on} (a cache that does not fit
   * fails the start instead of silently costing the time again) and log their class loading, so
   * that the suite can show how many classes came from it. The crash stays a crash: the cache
   * changes how fast a process starts, not what it runs.
   */
  private GuestDriver.Jvm hostAotCache() throws InterruptedException {
    long start = System.nanoTime();
    HostAotCache.Made made;
    try {
      made = HostAotCache.assemble(vm.projectDir().resolve("target/pve-storage-csi.jar"),
          vm.projectDir().resolve("target/crash-aot"));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    long assembled = System.nanoTime();
    String dir = must("mktemp", "-d", "/var/tmp/csi-aot.XXXXXX").stdoutText().strip();
    afterSuite.add(() -> guest("rm", "-rf", dir));
    String cache = dir + "/driver.aot";
    must("cp", vm.guestPath(made.cache()), cache);
    classLoadLogs = dir + "/classes";
    must("mkdir", classLoadLogs);
    System.out.printf("crash suite: AOT cache made on the host: training run %d ms, assembly %d"
        + " ms, %d bytes; copied into the guest in %d ms%n", made.recorded().toMillis(),
        made.assembled().toMillis(), made.bytes(),
        Duration.ofNanos(System.nanoTime() - assembled).toMillis());
    return GuestDriver.Jvm.jar(List.of("-XX:AOTCache=" + cache, "-XX:AOTMode=on",
        "-Xlog:class+load=info:file=" + classLoadLogs + "/%p.log"));
  }

  /**
   * The class whose load marks the end of the JVM's own start-up. Not finer stages of the
   * driver's start: a JVM with an AOT cache loads and links all the cached classes in bulk
   * before main runs (the first full run of 2026-12-07 showed the Kubernetes client, the gRPC
   * server, the Lease lock and CreateVolumeRequest all "loaded" within a second of Main), so a
   * class's load time says when the JVM started, not when the driver used it. What follows is
   * the driver's own start: until listening, then until Probe says ready.
   */
  private static final List<String> START_MILESTONES = List.of("io.csi.pvestorage.app.Main ");

  /** The class-loading log of the driver process now running. */
  private String classLoadLog() {
    return guest("cat", classLoadLogs + "/" + ((GuestProcess) driver.process()).pid() + ".log")
        .stdoutText();
  }

  /** The guest directory where each driver process logs its class loading ({@code <pid>.log}). */
  private String classLoadLogs;

  /**
   * Where the start of the driver process now running went: from its class-loading log, when
   * its JVM reached the driver's main class and how many of its classes came from the AOT
   * cache; from the harness, when it listened and when Probe said ready.
   */
  private String startProfile() {
    String log = classLoadLog();
    long[] cached = HostAotCache.countCachedClasses(log);
    GuestDriver.StartTimes times = driver.startTimes();
    return "JVM start-up done at uptime " + HostAotCache.firstLoads(log, START_MILESTONES)
        + "; listening " + times.listening().toMillis() + " ms, ready " + times.ready().toMillis()
        + " ms after launch; classes from the AOT cache " + cached[0] + " of " + cached[1];
  }

  @AfterAll
  void stopDriver() throws IOException {
    String rendered = table.render();
    System.out.println(rendered);
    System.out.println("crash suite: driver restarts " + restarts.size()
        + ", each " + restarts.stream().mapToLong(Duration::toMillis).summaryStatistics()
        + " ms");
    System.out.println("crash suite: injection points " + pointTimes.size() + ", each "
        + pointTimes.stream().mapToLong(Duration::toMillis).summaryStatistics() + " ms");
    Path out = Path.of("target", "crash-at-every-step.md");
    Files.createDirectories(out.getParent());
    Files.writeString(out, rendered);
    if (driver == null) {
      // The driver never came up (the training or the start failed): nothing ran against it.
      guest("rm", "-rf", faultDir);
      afterSuite.forEach(Runnable::run);
      return;
    }
    Inventory after = inventory();
    driver.close();
    guest("rm", "-rf", faultDir);
    afterSuite.forEach(Runnable::run);
    assertEquals(suiteBefore.storage(), after.storage(),
        "the crash suite leaves the thin pool and the zpool as it found them");
  }

  @TestFactory
  Stream<DynamicTest> crashAtEveryStep() {
    List<String> only = List.of(System.getProperty(PATHS_PROPERTY, "").split(",")).stream()
        .map(String::strip).filter(w -> !w.isEmpty()).toList();
    List<String> backends = List.of(System.getProperty(BACKENDS_PROPERTY, "").split(","))
        .stream().map(String::strip).filter(w -> !w.isEmpty()).toList();
    boolean full = Boolean.getBoolean(FULL_PROPERTY);
    return BACKENDS.stream()
        .filter(b -> backends.isEmpty() || backends.contains(b.name()))
        .flatMap(b -> CrashPaths.all().stream().filter(p -> p.appliesTo(b))
            .filter(p -> full || !only.isEmpty() || CI_PATHS.get(b.name()).contains(p.name()))
            .filter(p -> only.isEmpty() || only.stream().anyMatch(p.name()::startsWith))
            .map(p -> DynamicTest.dynamicTest(b.name() + ": " + p.name(), () -> {
              backend = b;
              try {
                runPath(p);
              } catch (RuntimeException | AssertionError e) {
                // What a failed path made must not become the next path's "before".
                cleanUp();
                throw e;
              }
            })));
  }

  private void runPath(CrashPath path) throws InterruptedException {
    // The unarmed run: proves the path works and counts its commands and new objects.
    Inventory before = inventory();
    CrashPath.Scenario scenario = path.prepare(this);
    arm(new Plan(path.method(), Moment.COUNT, 0));
    scenario.call();
    scenario.verify();
    Map<String, Integer> expected = inventory().newSince(before).kinds();
    cleanUp();
    assertEquals(before, inventory(), path.name() + ": the unarmed run leaves nothing behind");
    List<Step> steps = guest("cat", faultDir + "/" + FaultPoint.COUNTED_FILE).stdoutText()
        .lines().filter(l -> !l.isBlank()).map(Step::parse).toList();
    table.add(new Row(backend().name(), path.name(), "count", Outcome.CONVERGED,
        steps.size() + " commands: " + steps.stream().map(Step::verb).toList()));
    List<Plan> plans = Boolean.getBoolean(FULL_PROPERTY) ? allSteps(path.method(), steps)
        : ciSteps(path.method(), steps);
    List<Row> rows = new ArrayList<>();
    for (Plan plan : plans) {
      long pointStart = System.nanoTime();
      Row row = point(path, plan, steps, expected);
      pointTimes.add(Duration.ofNanos(System.nanoTime() - pointStart));
      table.add(row);
      rows.add(row);
    }
    List<Row> bad = rows.stream().filter(r -> r.outcome() != Outcome.CONVERGED).toList();
    assertTrue(bad.isEmpty(), path.name() + " on " + backend().name()
        + ": points that did not converge cleanly: " + bad);
  }

  /** One injection point, from preparing its state to the inventory after cleanup. */
  private Row point(CrashPath path, Plan plan, List<Step> steps,
      Map<String, Integer> expected) throws InterruptedException {
    Step step = steps.get(plan.n() - 1);
    String stepName = plan.moment().name().toLowerCase(java.util.Locale.ROOT) + " " + plan.n()
        + " " + step.verb();
    Inventory before = inventory();
    CrashPath.Scenario scenario = path.prepare(this);
    arm(plan);
    try {
      scenario.call();
      guest("rm", "-f", faultDir + "/" + FaultPoint.ARM_FILE);
      cleanUp();
      return row(path, stepName, Outcome.NOT_REACHED, "the armed call answered OK");
    } catch (StatusRuntimeException expectedCrash) {
      // The process halted in the middle of the call: the connection dropped.
    }
    String halted = guest("cat", faultDir + "/" + FaultPoint.HALTED_FILE).stdoutText().strip();
    guest("rm", "-f", faultDir + "/" + FaultPoint.HALTED_FILE);
    long restartStart = System.nanoTime();
    if (!awaitDead()) {
      // Not a crash at the step: the call failed while the process lives on. Its Leases are
      // not aged (it may hold them); restart() stops it.
      driver = driver.restart(vm);
      cleanUp();
      return row(path, stepName, Outcome.STUCK, "the armed call failed but the driver did not"
          + " exit (halted '" + halted + "')");
    }
    // Seen dead: its held Leases may be aged (see LeaseAgeing), so the restarted driver's own
    // takeover runs at once instead of after the Lease duration.
    List<String> aged = driver.ageLeasesOfDeadProcess();
    driver = driver.restart(vm);
    Duration restart = Duration.ofNanos(System.nanoTime() - restartStart);
    restarts.add(restart);
    long retryStart = System.nanoTime();
    int attempts = 0;
    StatusRuntimeException last = null;
    while (attempts < RETRIES) {
      attempts++;
      try {
        scenario.call();
        last = null;
        break;
      } catch (StatusRuntimeException e) {
        last = e;
        if (!RETRYABLE.contains(e.getStatus().getCode())) {
          break;
        }
        Thread.sleep(RETRY_PAUSE.toMillis());
      }
    }
    String timing = "halted '" + halted + "', restart " + restart.toMillis() + " ms ("
        + startProfile() + "), "
        + attempts + " call(s) in " + Duration.ofNanos(System.nanoTime() - retryStart).toMillis()
        + " ms" + (aged.isEmpty() ? "" : ", aged " + aged + ", " + takeovers());
    if (last != null) {
      cleanUp();
      return row(path, stepName, Outcome.STUCK, timing + "; last answer " + last.getStatus());
    }
    try {
      scenario.verify();
    } catch (AssertionError | StatusRuntimeException e) {
      cleanUp();
      return row(path, stepName, Outcome.LOST, timing + "; " + e.getMessage());
    }
    Map<String, Integer> now = inventory().newSince(before).kinds();
    if (!now.equals(expected)) {
      cleanUp();
      boolean extra = now.entrySet().stream()
          .anyMatch(e -> e.getValue() > expected.getOrDefault(e.getKey(), 0));
      return row(path, stepName, extra ? Outcome.ORPHAN : Outcome.LOST,
          timing + "; objects after the retry " + now + ", unarmed run " + expected);
    }
    List<String> cleanupFailures = cleanUp();
    Inventory after = inventory();
    if (!after.equals(before)) {
      return row(path, stepName, after.missingFrom(before) ? Outcome.LOST : Outcome.ORPHAN,
          timing + "; left after cleanup " + after.newSince(before).names() + ", gone "
              + before.newSince(after).names() + cleanupFailures);
    }
    return row(path, stepName, Outcome.CONVERGED, timing);
  }

  private Row row(CrashPath path, String step, Outcome outcome, String detail) {
    return new Row(backend().name(), path.name(), step, outcome, detail);
  }

  /**
   * The restarted driver's takeovers so far, as it counts them ({@code
   * pve_csi_lock_acquisitions_total{takeover="true"}}) and logs them ({@value #TAKEOVER_LOG}).
   * The retry need not take the aged Lease itself (a delete that finds its object gone takes no
   * lock); the cleanup's calls then do.
   */
  private String takeovers() {
    List<String> counted = driver.scrapeMetrics().lines()
        .filter(l -> l.startsWith("pve_csi_lock_acquisitions_total{")
            && l.contains("takeover=\"true\""))
        .toList();
    return "takeovers counted " + counted + ", logged "
        + driver.log().lines().filter(l -> l.contains(TAKEOVER_LOG)).count();
  }

  /** Whether the driver's process is seen to exit within 30 s (the halt is immediate). */
  private boolean awaitDead() throws InterruptedException {
    long end = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (driver.isAlive() && System.nanoTime() < end) {
      Thread.sleep(100);
    }
    return !driver.isAlive();
  }

  private void arm(Plan plan) {
    vm.runner().writeFile(faultDir + "/" + FaultPoint.ARM_FILE, plan.text() + "\n");
  }

  // ---- what the paths use -----------------------------------------------------------------

  Backend backendOf() {
    return backend();
  }

  ControllerGrpc.ControllerBlockingStub controller() {
    return ControllerGrpc.newBlockingStub(driver.channel())
        .withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
  }

  NodeGrpc.NodeBlockingStub node() {
    return NodeGrpc.newBlockingStub(driver.channel())
        .withDeadlineAfter(CALL_SECONDS, TimeUnit.SECONDS);
  }

  String stagingParent() {
    return driver.workDir() + "/staging";
  }

  String targetParent() {
    return driver.workDir() + "/target";
  }

  /** Registers an idempotent action for the end of the point; the last registered runs first. */
  void afterPoint(String what, Runnable action) {
    cleanups.push(new Cleanup(what, action));
  }

  /** Runs the registered cleanups; returns what failed (the inventory shows what it left). */
  private List<String> cleanUp() {
    List<String> failures = new ArrayList<>();
    while (!cleanups.isEmpty()) {
      Cleanup cleanup = cleanups.pop();
      try {
        retried(cleanup.action());
      } catch (RuntimeException | AssertionError e) {
        failures.add(cleanup.what() + ": " + e.getMessage());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        failures.add(cleanup.what() + ": interrupted");
      }
    }
    if (!failures.isEmpty()) {
      System.out.println("crash suite cleanup failures: " + failures);
    }
    return failures;
  }

  /**
   * Runs a cleanup call as a sidecar would: again on an answer that says to retry (a fenced
   * driver whose Lease renewal is overdue answers UNAVAILABLE), at most {@value #RETRIES} times.
   */
  private static void retried(Runnable call) throws InterruptedException {
    for (int attempt = 1; ; attempt++) {
      try {
        call.run();
        return;
      } catch (StatusRuntimeException e) {
        if (attempt >= RETRIES || !RETRYABLE.contains(e.getStatus().getCode())) {
          throw e;
        }
        Thread.sleep(RETRY_PAUSE.toMillis());
      }
    }
  }

  /** A guest command that must exit 0. */
  CommandResult must(String... argv) {
    CommandResult result = guest(argv);
    if (result.exitCode() != 0) {
      throw new AssertionError("in the guest: " + String.join(" ", argv) + " exited "
          + result.exitCode() + ": " + result.stderrText().strip());
    }
    return result;
  }

  /** A guest command, whatever its exit code (also while no driver runs). */
  CommandResult guest(String... argv) {
    return vm.runner().run(io.csi.pvestorage.exec.Command.of(GUEST_COMMAND_TIMEOUT, argv));
  }

  // ---- the inventory ----------------------------------------------------------------------

  /**
   * What exists in the guest that a crash could leave behind: every LV of the VG, every
   * dataset, zvol and snapshot under the ZFS storage, every mount and every path below the
   * work dir (the stand-in kubelet dir).
   */
  Inventory inventory() {
    Set<String> storage = new TreeSet<>();
    must("lvs", "--noheadings", "-o", "lv_name", VmHarness.VG).stdoutText().lines()
        .map(String::strip).filter(l -> !l.isEmpty())
        .forEach(l -> storage.add((l.startsWith("snap_") ? "lvm-snapshot " : "lvm-lv ") + l));
    must("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", VmHarness.ZFS_DATASET)
        .stdoutText().lines().map(String::strip).filter(l -> !l.isEmpty())
        .forEach(l -> storage.add((l.contains("@") ? "zfs-snapshot " : "zfs-dataset ") + l));
    Set<String> node = new TreeSet<>();
    String work = driver.workDir();
    must("findmnt", "-rn", "-o", "TARGET").stdoutText().lines().map(String::strip)
        .filter(l -> l.startsWith(work + "/")).forEach(l -> node.add("mount " + l));
    // Below the staging and target parents only: a volume's own files are not the node's.
    must("find", stagingParent(), targetParent(), "-mindepth", "1", "-maxdepth", "1")
        .stdoutText().lines().map(String::strip).filter(l -> !l.isEmpty())
        .forEach(l -> node.add("path " + l));
    return new Inventory(storage, node);
  }

  /** The storage objects and the node's mounts and paths, each line prefixed by its kind. */
  record Inventory(Set<String> storage, Set<String> node) {

    /** What this inventory has that {@code earlier} had not. */
    Inventory newSince(Inventory earlier) {
      Set<String> s = new TreeSet<>(storage);
      s.removeAll(earlier.storage);
      Set<String> n = new TreeSet<>(node);
      n.removeAll(earlier.node);
      return new Inventory(s, n);
    }

    /** Whether something of {@code earlier} is missing here. */
    boolean missingFrom(Inventory earlier) {
      return !storage.containsAll(earlier.storage) || !node.containsAll(earlier.node);
    }

    List<String> names() {
      return Stream.concat(storage.stream(), node.stream()).toList();
    }

    /** How many objects of each kind: names differ between runs, counts must not. */
    Map<String, Integer> kinds() {
      Map<String, Integer> counts = new TreeMap<>();
      names().forEach(n -> counts.merge(n.substring(0, n.indexOf(' ')), 1, Integer::sum));
      return counts;
    }
  }
}
