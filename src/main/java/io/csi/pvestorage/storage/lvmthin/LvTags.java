package io.csi.pvestorage.storage.lvmthin;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import io.csi.pvestorage.storage.VolumeMetadata;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * {@link VolumeMetadata} as LV tags, written by {@code lvcreate --addtag} in the same command
 * that creates the LV and read back from the {@code lv_tags} column.
 *
 * <p>One tag per field, {@code <key>=<value>}:
 *
 * <table>
 *   <caption>tag keys</caption>
 *   <tr><th>key</th><th>value</th></tr>
 *   <tr><td>{@code pve-storage.csi.io/name}</td><td>the CSI request name</td></tr>
 *   <tr><td>{@code pve-storage.csi.io/pvc-namespace}</td><td>the claim's namespace</td></tr>
 *   <tr><td>{@code pve-storage.csi.io/pvc-name}</td><td>the claim's name</td></tr>
 *   <tr><td>{@code pve-storage.csi.io/pv-name}</td><td>the PersistentVolume's name</td></tr>
 * </table>
 *
 * <p>LVM accepts only {@code A-Z a-z 0-9 _ + . - / = ! : # &} in a tag, at most 1024
 * characters, not starting with '-' (lvm(8), "Tags"; a comma is refused with exit 3, recorded in
 * the fixture {@code lvcreate-tag-with-comma}). Values made only of those characters, except
 * the colon, stay readable ({@code pve-storage.csi.io/pvc-name=data-db-0}); any other value (a
 * comma, a colon, a space, non-ASCII text, or a value that itself starts with {@code b64:}) is
 * written as {@code b64:} plus its UTF-8 bytes in URL-safe base64 without padding, whose
 * alphabet is inside LVM's. Decoding reverses exactly that, so every value round-trips.
 *
 * <p>The colon is legal in a tag but encoded all the same: PVE lists LVs with {@code lvs
 * --separator :} and splits each line on every ':', with the tags column before the size of the
 * metadata and the creation time, so one ':' in a tag shifts those columns and PVE shows the
 * volume without a ctime (issue 13 point 9). Tags written before that change may still hold a
 * plain ':'; they decode as before, since only a {@code b64:} prefix is ever decoded.
 */
public final class LvTags {

  /** The prefix of every tag key this driver writes. */
  public static final String PREFIX = "pve-storage.csi.io/";
  public static final String NAME = PREFIX + "name";
  public static final String PVC_NAMESPACE = PREFIX + "pvc-namespace";
  public static final String PVC_NAME = PREFIX + "pvc-name";
  public static final String PV_NAME = PREFIX + "pv-name";

  /** LVM's longest tag. */
  public static final int MAX_TAG = 1024;

  private static final String B64 = "b64:";
  /** LVM's tag characters without ':' (see the class comment for why). */
  private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_+.\\-/=!#&]*");

  private LvTags() {}

  /**
   * The tags for the metadata, in a fixed order (name, namespace, claim, PV).
   *
   * @throws StorageException INVALID when the CSI name is empty or a tag would exceed LVM's
   *     1024 characters
   */
  public static List<String> encode(VolumeMetadata metadata) {
    if (metadata.csiName().isEmpty()) {
      throw new StorageException(ErrorKind.INVALID, "the CSI name is empty");
    }
    List<String> tags = new ArrayList<>(4);
    tags.add(tag(NAME, metadata.csiName()));
    metadata.pvcNamespace().ifPresent(v -> tags.add(tag(PVC_NAMESPACE, v)));
    metadata.pvcName().ifPresent(v -> tags.add(tag(PVC_NAME, v)));
    metadata.pvName().ifPresent(v -> tags.add(tag(PV_NAME, v)));
    return tags;
  }

  /**
   * The metadata recorded in an LV's tags; empty when the LV has no {@code name} tag of this
   * driver (an LV made by PVE or by hand). Tags of other software are ignored.
   */
  public static Optional<VolumeMetadata> decode(List<String> tags) {
    String name = null;
    String namespace = null;
    String claim = null;
    String pv = null;
    for (String tag : tags) {
      if (!tag.startsWith(PREFIX)) {
        continue;
      }
      int eq = tag.indexOf('=');
      if (eq < 0) {
        continue;
      }
      String key = tag.substring(0, eq);
      Optional<String> value = decodeValue(tag.substring(eq + 1));
      if (value.isEmpty()) {
        continue;
      }
      switch (key) {
        case NAME -> name = value.get();
        case PVC_NAMESPACE -> namespace = value.get();
        case PVC_NAME -> claim = value.get();
        case PV_NAME -> pv = value.get();
        default -> { }
      }
    }
    if (name == null) {
      return Optional.empty();
    }
    return Optional.of(new VolumeMetadata(name, Optional.ofNullable(namespace),
        Optional.ofNullable(claim), Optional.ofNullable(pv)));
  }

  static String tag(String key, String value) {
    String encoded = PLAIN.matcher(value).matches() && !value.startsWith(B64)
        ? value
        : B64 + Base64.getUrlEncoder().withoutPadding()
            .encodeToString(value.getBytes(StandardCharsets.UTF_8));
    String tag = key + "=" + encoded;
    if (tag.length() > MAX_TAG) {
      throw new StorageException(ErrorKind.INVALID, "the value of " + key + " is too long for an "
          + "LV tag (" + tag.length() + " of at most " + MAX_TAG + " characters once encoded)");
    }
    return tag;
  }

  /** Empty for a value that claims base64 but is not (written by someone else). */
  private static Optional<String> decodeValue(String value) {
    if (!value.startsWith(B64)) {
      return Optional.of(value);
    }
    try {
      byte[] bytes = Base64.getUrlDecoder().decode(value.substring(B64.length()));
      return Optional.of(new String(bytes, StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }
}
