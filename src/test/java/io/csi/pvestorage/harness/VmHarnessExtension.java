package io.csi.pvestorage.harness;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Gives integration tests one shared {@link VmHarness} per test JVM: the first test class that
 * needs it boots the guest, later classes reuse it, and JUnit closes it when the whole run ends
 * (it lives in the root context's store). Test methods and {@code @BeforeAll} methods receive it
 * (or its {@link GuestCommandRunner}) as a parameter.
 *
 * <p>When the harness cannot start (no qemu, an image that cannot be built here, a guest that
 * does not boot) the tests are skipped with the reason, since a laptop without qemu cannot run
 * them; with the environment variable {@code PVE_CSI_REQUIRE_VM=1} (set by {@code .ci/run}) they
 * fail instead, so CI can never pass by skipping. The outcome of the first attempt is kept: a
 * harness that failed to start is not retried for every class.
 */
public final class VmHarnessExtension implements BeforeEachCallback, ParameterResolver {

  static final String REQUIRE_ENV = "PVE_CSI_REQUIRE_VM";

  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(VmHarnessExtension.class);

  /** The harness, or why it could not be had. Closed with the root context. */
  private record Shared(VmHarness harness, HarnessUnavailableException unavailable)
      implements AutoCloseable {
    @Override
    public void close() {
      if (harness != null) {
        harness.close();
      }
    }
  }

  /** Per test rather than per class, so that each skipped test is counted and reported. */
  @Override
  public void beforeEach(ExtensionContext context) {
    harness(context);
  }

  private static VmHarness harness(ExtensionContext context) {
    Shared shared = context.getRoot().getStore(NAMESPACE)
        .computeIfAbsent(Shared.class, key -> startShared(), Shared.class);
    if (shared.unavailable() != null) {
      String reason = "VM harness unavailable: " + shared.unavailable().getMessage();
      if (required()) {
        throw new IllegalStateException(reason + " (" + REQUIRE_ENV + "=1 forbids skipping)",
            shared.unavailable());
      }
      // Justified skip: a developer machine without qemu (or root for a cold image build)
      // cannot run real-storage tests at all; the reason is printed, and CI sets
      // PVE_CSI_REQUIRE_VM=1, which turns this skip into the failure above.
      Assumptions.abort(reason);
    }
    return shared.harness();
  }

  private static Shared startShared() {
    try {
      return new Shared(VmHarness.start(VmHarness.Config.defaults()), null);
    } catch (HarnessUnavailableException e) {
      VmHarness.log("UNAVAILABLE, %s: %s", required() ? "failing the ITs (" + REQUIRE_ENV + "=1)"
          : "skipping the ITs", e.getMessage());
      return new Shared(null, e);
    }
  }

  static boolean required() {
    return "1".equals(System.getenv(REQUIRE_ENV));
  }

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    Class<?> type = parameter.getParameter().getType();
    return type == VmHarness.class || type == GuestCommandRunner.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    VmHarness harness = harness(context);
    return parameter.getParameter().getType() == VmHarness.class ? harness : harness.runner();
  }
}
