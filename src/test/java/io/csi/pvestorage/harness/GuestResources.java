package io.csi.pvestorage.harness;

/**
 * Keys for JUnit's {@code @ResourceLock}, naming what of the shared harness guest an IT class
 * uses, so that classes on different pools can run at the same time ({@code
 * @Execution(CONCURRENT)}) and classes on the same pool never do.
 *
 * <p>Why it matters: the emulated guest has two vCPUs, and one class at a time keeps about one
 * of them busy. Why it is safe: every class judges only the pool it holds (LVs of the VG, or
 * what lies under the zpool's datasets), and the pools are on separate disks. Every class that
 * uses the shared guest holds {@link #GUEST} for reading; a class that disturbs the whole guest
 * (udev's queue stopped, processes killed), or that times what the guest does (the command
 * channel's and a guest JVM's contract), holds it for writing and so runs alone.
 */
public final class GuestResources {

  /** Every class using the shared guest, READ; READ_WRITE for one that must run alone in it. */
  public static final String GUEST = "shared guest";
  /** The guest's volume group {@value VmHarness#VG}: its thin pool and every LV in it. */
  public static final String THIN_POOL = "shared guest VG";
  /** The guest's zpool {@value VmHarness#ZPOOL}: every dataset, zvol and snapshot in it. */
  public static final String ZPOOL = "shared guest zpool";

  private GuestResources() {}
}
