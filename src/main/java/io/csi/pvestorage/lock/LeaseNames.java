package io.csi.pvestorage.lock;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/** Derives Lease names; pure functions. */
final class LeaseNames {

  static final String PREFIX = "pve-storage-";
  static final int MAX_LENGTH = 63;
  private static final int HASH_LENGTH = 8;

  private LeaseNames() {}

  /**
   * {@code pve-storage-<node>-<storeid>-<hash>}, a DNS-1123 label: at most 63 characters of
   * {@code [a-z0-9-]}, alphanumeric at both ends. The readable part is lower-cased, characters a
   * label cannot hold ({@code _}, {@code .}) become {@code -}, and it is cut short when long.
   * The hash, 8 hex digits of the SHA-256 of {@code node/storeid}, is always appended: node
   * names and storeids may both contain {@code -}, so {@code (n1-a, b)} and {@code (n1, a-b)}
   * would otherwise share a Lease. The name is the same in every process.
   */
  static String leaseName(String nodeName, String storeid) {
    if (nodeName.isEmpty() || storeid.isEmpty()) {
      throw new IllegalArgumentException("node name and storeid must not be empty");
    }
    String cleaned =
        (PREFIX + nodeName + "-" + storeid)
            .toLowerCase(Locale.ROOT)
            .replaceAll("[^a-z0-9-]", "-")
            .replaceAll("-+", "-");
    int room = MAX_LENGTH - HASH_LENGTH - 1;
    if (cleaned.length() > room) {
      cleaned = cleaned.substring(0, room);
    }
    cleaned = cleaned.replaceAll("-+$", "");
    return cleaned + "-" + hash(nodeName + "/" + storeid);
  }

  private static String hash(String text) {
    try {
      byte[] digest =
          MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest, 0, HASH_LENGTH / 2);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is required of every Java platform", e);
    }
  }
}
