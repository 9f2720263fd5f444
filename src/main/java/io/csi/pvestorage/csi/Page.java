package io.csi.pvestorage.csi;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * One page of a sorted listing (ListVolumes, ListSnapshots). The token is the key of the last
 * entry handed out, opaque to the CO, so a page boundary stays correct when entries are created
 * or deleted between two calls: the next page starts after that key, whatever moved before it.
 *
 * @param items the entries of this page
 * @param nextToken the token for the next page; empty on the last page
 */
record Page<T>(List<T> items, Optional<String> nextToken) {

  private static final String PREFIX = "after:";

  /**
   * Cuts a page out of {@code sorted} (sorted by {@code key}, ascending).
   *
   * @param startingToken empty for the first page, else a token of an earlier page
   * @param maxEntries at most this many entries; 0 means all
   * @throws StorageException INVALID for a negative {@code maxEntries}, ABORTED for a token this
   *     driver did not issue (the spec's code for an invalid starting_token)
   */
  static <T> Page<T> of(List<T> sorted, Function<T, String> key, String startingToken,
      int maxEntries) {
    if (maxEntries < 0) {
      throw new StorageException(ErrorKind.INVALID, "max_entries must not be negative");
    }
    int start = 0;
    if (!startingToken.isEmpty()) {
      String after = decode(startingToken);
      while (start < sorted.size() && key.apply(sorted.get(start)).compareTo(after) <= 0) {
        start++;
      }
    }
    int end = maxEntries == 0 ? sorted.size() : Math.min(sorted.size(), start + maxEntries);
    List<T> items = List.copyOf(sorted.subList(start, end));
    Optional<String> next = end < sorted.size() && !items.isEmpty()
        ? Optional.of(encode(key.apply(items.getLast()))) : Optional.empty();
    return new Page<>(items, next);
  }

  private static String encode(String key) {
    return Base64.getUrlEncoder().withoutPadding()
        .encodeToString((PREFIX + key).getBytes(StandardCharsets.UTF_8));
  }

  private static String decode(String token) {
    try {
      String text = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8);
      if (text.startsWith(PREFIX)) {
        return text.substring(PREFIX.length());
      }
    } catch (IllegalArgumentException e) {
      // reported below
    }
    throw new StorageException(ErrorKind.ABORTED, "starting_token '" + token
        + "' was not issued by this driver; start the listing again without a token");
  }
}
