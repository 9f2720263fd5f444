package io.csi.pvestorage.node.crypt;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandResult;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.Secret;
import io.csi.pvestorage.node.DeviceSignature;
import io.csi.pvestorage.node.HostPath;
import io.csi.pvestorage.node.Mounter;
import io.csi.pvestorage.storage.VolumeId;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * LUKS2 containers on raw volumes (LVM-thin LVs and zvols), with {@code cryptsetup}: format a
 * blank device, open it under a name derived from the volume, resize and close the mapping.
 *
 * <p>The passphrase reaches cryptsetup only on its standard input ({@code --key-file -}, read to
 * its end, so every byte of the secret is the key); it is in no argv, environment, file or
 * message. A device is formatted only when blkid finds no signature on it at all (the same probe
 * that guards mkfs, {@link Mounter#probe}): an existing LUKS header is opened, anything else is
 * refused and left untouched. Each step is idempotent, so a stage that died between two of them
 * converges when it is retried: a formatted but unopened device is opened, an open mapping is
 * reused once it is shown to sit on this volume's device.
 */
public final class LuksDevices {

  /** What every mapping name of this driver starts with. */
  public static final String PREFIX = "pvecsi-";

  /** A mapping name: what device-mapper and udev take without mangling (at most 127 bytes). */
  static final Pattern MAPPER_NAME = Pattern.compile("pvecsi-[A-Za-z0-9][A-Za-z0-9_.+-]{0,110}");

  /** The blkid TYPE of a LUKS header (version 1 or 2). */
  private static final String LUKS_TYPE = "crypto_LUKS";

  /** cryptsetup's exit code for "no key available with this passphrase". */
  private static final int WRONG_PASSPHRASE = 2;

  /** cryptsetup's exit code for "the device does not exist" (close of a closed mapping). */
  private static final int NO_DEVICE = 4;

  private final CommandRunner runner;
  private final Mounter mounter;
  private final Duration timeout;

  /**
   * @param runner runs cryptsetup (with the host prefix in production)
   * @param mounter probes devices and reads their numbers
   * @param timeout for each cryptsetup command: a key derivation takes seconds by design
   */
  public LuksDevices(CommandRunner runner, Mounter mounter, Duration timeout) {
    this.runner = Objects.requireNonNull(runner, "runner");
    this.mounter = Objects.requireNonNull(mounter, "mounter");
    this.timeout = Objects.requireNonNull(timeout, "timeout");
  }

  /**
   * The device-mapper name of a volume's opened container: {@code pvecsi-<volume name>-<8 hex
   * digits of the SHA-256 of the volume ID>}. The volume name makes it readable in {@code
   * dmsetup ls}; the hash tells apart equal volume names of two storages. A name too long or
   * with other characters keeps only the hash.
   */
  public static String mapperName(VolumeId id) {
    String hash = HexFormat.of().formatHex(sha256(id.toString()), 0, 4);
    String readable = PREFIX + id.volname() + "-" + hash;
    return MAPPER_NAME.matcher(readable).matches() ? readable : PREFIX + hash;
  }

  /** The path of a mapping's device node. */
  public static HostPath mapperPath(String name) {
    return new HostPath("/dev/mapper/" + checked(name));
  }

  /** Whether the mapping exists (its device node is there). */
  public boolean isOpen(String name) {
    return mounter.inspect(mapperPath(name)).isPresent();
  }

  /**
   * Opens the volume's container, formatting it first when the device is blank; idempotent.
   *
   * @param device the volume's raw device
   * @param name the mapping name ({@link #mapperName})
   * @param key the passphrase
   * @param volume the volume and the secret parameter, for messages
   * @return whether it was opened by this call (false: it was open already)
   * @throws StorageException PRECONDITION when the device holds something that is not LUKS (it
   *     is never formatted), when the passphrase does not open it (nothing is opened or
   *     formatted), or when a mapping of that name sits on another device
   */
  public boolean open(HostPath device, String name, Secret key, String volume,
      String secretParameter) {
    if (isOpen(name)) {
      requireBacking(name, device, volume);
      return false;
    }
    DeviceSignature signature = mounter.probe(device);
    if (signature.blank()) {
      run("cannot format " + device + " as LUKS2 for volume " + volume, key, "cryptsetup",
          "luksFormat", "--type", "luks2", "--batch-mode", "--key-file", "-", device.value());
    } else if (!signature.type().filter(LUKS_TYPE::equals).isPresent()) {
      throw new StorageException(ErrorKind.PRECONDITION, "volume " + volume + " is to be "
          + "encrypted (luks2) but " + device + " holds " + signature.describe() + ", not a LUKS "
          + "header: it is left untouched (never formatted); was it created without "
          + "encryption?");
    }
    CommandResult opened = runner.run(Command.of(timeout, "cryptsetup", "open", "--type",
        "luks2", "--key-file", "-", device.value(), checked(name)).withStdin(key));
    if (opened.exitCode() == WRONG_PASSPHRASE) {
      throw wrongPassphrase(secretParameter, volume, "nothing was opened or formatted");
    }
    if (!opened.succeeded()) {
      throw opened.failure(ErrorKind.INTERNAL, "cannot open the LUKS2 container of volume "
          + volume + " on " + device);
    }
    return true;
  }

  /**
   * Grows the opened mapping to the size of its (grown) device. cryptsetup asks for the
   * passphrase when the volume key is kept in the kernel keyring, as LUKS2 does by default.
   *
   * @throws StorageException PRECONDITION when the passphrase is refused
   */
  public void resize(String name, Secret key, String volume, String secretParameter) {
    CommandResult result = runner.run(Command.of(timeout, "cryptsetup", "resize", "--key-file",
        "-", checked(name)).withStdin(key));
    if (result.exitCode() == WRONG_PASSPHRASE) {
      throw wrongPassphrase(secretParameter, volume, "its mapping was not resized");
    }
    if (!result.succeeded()) {
      throw result.failure(ErrorKind.INTERNAL, "cannot resize the LUKS2 mapping of volume "
          + volume);
    }
  }

  /**
   * Closes the mapping; a mapping that is not open is success.
   *
   * @throws StorageException PRECONDITION when it is still in use (it stays open)
   */
  public void close(String name, String volume) {
    if (!isOpen(name)) {
      return;
    }
    CommandResult result = runner.run(Command.of(timeout, "cryptsetup", "close", checked(name)));
    if (result.succeeded() || result.exitCode() == NO_DEVICE) {
      return;
    }
    if (result.stderrText().contains("in use")) {
      throw result.failure(ErrorKind.PRECONDITION, "the LUKS2 mapping of volume " + volume
          + " is still in use and stays open; unmount what uses it and retry");
    }
    throw result.failure(ErrorKind.INTERNAL, "cannot close the LUKS2 mapping of volume "
        + volume);
  }

  /** Fails unless the open mapping sits on {@code device}. */
  private void requireBacking(String name, HostPath device, String volume) {
    CommandResult status = runner.run(Command.of(timeout, "cryptsetup", "status",
        checked(name)));
    Optional<String> backing = status.stdoutText().lines().map(String::strip)
        .filter(l -> l.startsWith("device:")).map(l -> l.substring("device:".length()).strip())
        .findFirst();
    if (!status.succeeded() || backing.isEmpty()) {
      throw status.failure(ErrorKind.INTERNAL, "cannot tell which device the mapping " + name
          + " of volume " + volume + " sits on");
    }
    if (!mounter.blockDevice(new HostPath(backing.get())).equals(mounter.blockDevice(device))) {
      throw new StorageException(ErrorKind.PRECONDITION, "the mapping " + name + " of volume "
          + volume + " sits on " + backing.get() + ", not on " + device + "; it is left alone");
    }
  }

  /** PRECONDITION: the secret's passphrase opens no key slot; names the secret and volume. */
  private static StorageException wrongPassphrase(String secretParameter, String volume,
      String outcome) {
    return new StorageException(ErrorKind.PRECONDITION, "the passphrase in the Secret named by "
        + secretParameter + " (key '" + EncryptionKey.SECRET_KEY + "') does not open the LUKS2 "
        + "container of volume " + volume + "; " + outcome);
  }

  private void run(String message, Secret key, String... argv) {
    CommandResult result = runner.run(Command.of(timeout, List.of(argv)).withStdin(key));
    if (!result.succeeded()) {
      throw result.failure(ErrorKind.INTERNAL, message);
    }
  }

  private static String checked(String name) {
    if (!MAPPER_NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("not a mapping name of this driver: " + name);
    }
    return name;
  }

  private static byte[] sha256(String text) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }
}
