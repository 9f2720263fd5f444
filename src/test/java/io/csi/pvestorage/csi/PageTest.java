package io.csi.pvestorage.csi;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.csi.pvestorage.error.ErrorKind;
import io.csi.pvestorage.error.StorageException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Paging of the sorted listings: boundaries, huge page sizes, foreign tokens. */
class PageTest {

  private static final List<String> KEYS = List.of("a", "b", "c", "d", "e");

  private static List<String> walk(int maxEntries) {
    List<String> seen = new ArrayList<>();
    String token = "";
    do {
      Page<String> page = Page.Request.of(token, maxEntries).cut(KEYS, Function.identity());
      seen.addAll(page.items());
      token = page.nextToken().orElse("");
    } while (!token.isEmpty());
    return seen;
  }

  @ParameterizedTest(name = "max_entries {0}")
  @ValueSource(ints = {0, 1, 2, 4, 5, 6, Integer.MAX_VALUE - 1, Integer.MAX_VALUE})
  void everyPageSizeWalksEveryEntryOnce(int maxEntries) {
    assertEquals(KEYS, walk(maxEntries));
  }

  @ParameterizedTest(name = "max_entries {0}")
  @ValueSource(ints = {Integer.MAX_VALUE - 3, Integer.MAX_VALUE - 1, Integer.MAX_VALUE})
  void aHugePageSizeAfterATokenIsTheRestWithoutOverflow(int maxEntries) {
    String token = Page.Request.of("", 2).cut(KEYS, Function.identity()).nextToken()
        .orElseThrow();
    Page<String> rest = Page.Request.of(token, maxEntries).cut(KEYS, Function.identity());
    assertEquals(List.of("c", "d", "e"), rest.items());
    assertEquals(Optional.empty(), rest.nextToken());
  }

  @Test
  void aTokenPastTheEndGivesAnEmptyLastPage() {
    String token = Page.Request.of("", 4).cut(KEYS, Function.identity()).nextToken()
        .orElseThrow();
    Page<String> last = Page.Request.of(token, 4).cut(List.of("a", "b", "c", "d"),
        Function.identity());
    assertEquals(List.of(), last.items());
    assertEquals(Optional.empty(), last.nextToken());
  }

  @Test
  void negativeMaxEntriesIsInvalid() {
    StorageException e = assertThrows(StorageException.class,
        () -> Page.Request.of("", Integer.MIN_VALUE));
    assertEquals(ErrorKind.INVALID, e.kind());
  }

  @ParameterizedTest(name = "token {0}")
  @ValueSource(strings = {"zzz", "not base64 !", "YWZ0ZXI", "////", "\u0000", "YWJj"})
  void aTokenThisDriverNeverIssuedIsAborted(String token) {
    StorageException e = assertThrows(StorageException.class, () -> Page.Request.of(token, 1));
    assertEquals(ErrorKind.ABORTED, e.kind());
  }
}
