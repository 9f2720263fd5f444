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
 *   <tr><td>{@code pve-storage.csi.io/golden-source}</td><td>on a golden image's base only: the
 *       volume name it was made from ({@link #goldenSource})</td></tr>
 * </table>
 *
 * <p>LVM accepts only {@code A-Z a-z 0-9 _ + . - / = ! : # &} in a tag, at most 1024
 * characters, not starting with '-' (lvm(8), "Tags"; a comma is refused with exit 3, recorded in
 * the fixture {@code lvcreate-tag-with-comma}). Values made only of those characters, except
 * the colon, stay readable ({@code pve-storage.csi.io/pvc-name=data-db-0}). Any other value (a
 * comma, a colon, a space, non-ASCII text) is written under the key plus {@value #ENCODED}
 * as its UTF-8 bytes in URL-safe base64 without padding, whose alphabet is inside LVM's:
 * {@code pve-storage.csi.io/name.b64=YSxi} for {@code a,b}. Decoding reverses exactly that, so
 * every value round-trips.
 *
 * <p>No tag this class writes holds a ':'. LVM allows it, but PVE lists LVs with {@code lvs
 * --separator :} and splits each line on every ':', and the tags column comes before the size
 * of the metadata and the creation time: one ':' in a tag shifts those columns and PVE shows
 * the volume without a ctime (issue 13 point 9; seen with pve-storage 9.1.7). For the same
 * reason the marker of an encoded value is on the key, no longer the {@code b64:} prefix on the
 * value that earlier versions wrote.
 *
 * <p>Tags written by earlier versions keep decoding: their values were either plain (a ':'
 * included) or {@code b64:} plus base64, and earlier versions encoded every value that started
 * with {@code b64:}, so such a value under the plain key is always an encoded one. The new
 * encoding never writes a value starting with {@code b64:} under the plain key (a ':' is always
 * encoded), so the two forms cannot be mistaken for each other.
 */
public final class LvTags {

  /** The prefix of every tag key this driver writes. */
  public static final String PREFIX = "pve-storage.csi.io/";
  public static final String NAME = PREFIX + "name";
  public static final String PVC_NAMESPACE = PREFIX + "pvc-namespace";
  public static final String PVC_NAME = PREFIX + "pvc-name";
  public static final String PV_NAME = PREFIX + "pv-name";
  /** The volume a golden image's base was made from; LVM forgets the origin with the volume. */
  public static final String GOLDEN_SOURCE = PREFIX + "golden-source";

  /** LVM's longest tag. */
  public static final int MAX_TAG = 1024;

  /** Appended to the key of a tag whose value is base64. */
  public static final String ENCODED = ".b64";
  /** How earlier versions marked a base64 value, on the value itself. */
  private static final String LEGACY_B64 = "b64:";
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
   * driver (an LV made by PVE or by hand). Tags of other software are ignored, and so is a value
   * that claims to be base64 but is not.
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
      String raw = tag.substring(eq + 1);
      Optional<String> value;
      if (key.endsWith(ENCODED)) {
        key = key.substring(0, key.length() - ENCODED.length());
        value = fromBase64(raw);
      } else if (raw.startsWith(LEGACY_B64)) {
        value = fromBase64(raw.substring(LEGACY_B64.length()));
      } else {
        value = Optional.of(raw);
      }
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

  /** The tag that records the volume a golden image's base was made from. */
  public static String goldenSourceTag(String volname) {
    return tag(GOLDEN_SOURCE, volname);
  }

  /**
   * The volume a golden image's base was made from, as {@link #goldenSourceTag} recorded it;
   * empty on any other LV.
   */
  public static Optional<String> goldenSource(List<String> tags) {
    for (String tag : tags) {
      if (tag.startsWith(GOLDEN_SOURCE + "=")) {
        return Optional.of(tag.substring(GOLDEN_SOURCE.length() + 1));
      }
      if (tag.startsWith(GOLDEN_SOURCE + ENCODED + "=")) {
        return fromBase64(tag.substring(GOLDEN_SOURCE.length() + ENCODED.length() + 1));
      }
    }
    return Optional.empty();
  }

  static String tag(String key, String value) {
    String tag = PLAIN.matcher(value).matches()
        ? key + "=" + value
        : key + ENCODED + "=" + Base64.getUrlEncoder().withoutPadding()
            .encodeToString(value.getBytes(StandardCharsets.UTF_8));
    if (tag.length() > MAX_TAG) {
      throw new StorageException(ErrorKind.INVALID, "the value of " + key + " is too long for an "
          + "LV tag (" + tag.length() + " of at most " + MAX_TAG + " characters once encoded)");
    }
    return tag;
  }

  private static Optional<String> fromBase64(String text) {
    try {
      return Optional.of(new String(Base64.getUrlDecoder().decode(text), StandardCharsets.UTF_8));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }
}
