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
   * A validated page request, checked before anything is listed.
   *
   * @param after the key of the last entry of the previous page, if any
   * @param maxEntries at most this many entries; 0 means all
   */
  record Request(Optional<String> after, int maxEntries) {

    /**
     * Checks {@code starting_token} and {@code max_entries}.
     *
     * @throws StorageException INVALID for a negative {@code maxEntries}, ABORTED for a token
     *     this driver did not issue (the spec's code for an invalid starting_token)
     */
    static Request of(String startingToken, int maxEntries) {
      if (maxEntries < 0) {
        throw new StorageException(ErrorKind.INVALID, "max_entries must not be negative");
      }
      return new Request(startingToken.isEmpty() ? Optional.empty()
          : Optional.of(decode(startingToken)), maxEntries);
    }

    /** Cuts this page out of {@code sorted} (sorted by {@code key}, ascending). */
    <T> Page<T> cut(List<T> sorted, Function<T, String> key) {
      int start = 0;
      if (after.isPresent()) {
        while (start < sorted.size() && key.apply(sorted.get(start)).compareTo(after.get()) <= 0) {
          start++;
        }
      }
      // Compared as a remainder, not as start + maxEntries: a max_entries near 2^31 must not
      // overflow into a negative end.
      int end = maxEntries == 0 || maxEntries >= sorted.size() - start
          ? sorted.size() : start + maxEntries;
      List<T> items = List.copyOf(sorted.subList(start, end));
      Optional<String> next = end < sorted.size() && !items.isEmpty()
          ? Optional.of(encode(key.apply(items.getLast()))) : Optional.empty();
      return new Page<>(items, next);
    }
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
