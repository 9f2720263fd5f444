package io.csi.pvestorage.lock;

import io.csi.pvestorage.error.ErrorKind;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Collects observer events as short strings, e.g. {@code acquired thin takeover=true}. */
final class RecordingObserver implements LockObserver {

  private final List<String> events = new ArrayList<>();

  synchronized List<String> events() {
    return List.copyOf(events);
  }

  private synchronized void add(String event) {
    events.add(event);
  }

  @Override
  public void waited(String storeid, Duration wait) {
    add("waited " + storeid);
  }

  @Override
  public void held(String storeid, Duration hold) {
    add("held " + storeid);
  }

  @Override
  public void leaseAcquired(String storeid, boolean takeover) {
    add("acquired " + storeid + " takeover=" + takeover);
  }

  @Override
  public void failed(String storeid, ErrorKind kind) {
    add("failed " + storeid + " " + kind);
  }
}
