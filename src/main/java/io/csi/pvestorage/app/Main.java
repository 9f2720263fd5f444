package io.csi.pvestorage.app;

/** Entry point: {@code serve} runs the driver, {@code client} talks to a CSI endpoint. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.out.println("pve-storage-csi");
  }
}
