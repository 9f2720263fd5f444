package io.csi.pvestorage.harness;

/**
 * The VM harness cannot start on this machine (qemu missing, image not buildable, guest did not
 * come up). The message names what is missing; ITs are skipped with it, or fail with it when
 * {@code PVE_CSI_REQUIRE_VM=1}.
 */
public final class HarnessUnavailableException extends RuntimeException {

  public HarnessUnavailableException(String message) {
    super(message);
  }

  public HarnessUnavailableException(String message, Throwable cause) {
    super(message, cause);
  }
}
