package io.csi.pvestorage.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The host end of the guest's command agent ({@code src/test/vm/guest/harness-agent}), reached
 * through the unix socket qemu puts in front of the virtio-serial port.
 *
 * <p>Requests are multiplexed: each carries an id, a reader thread hands each response line to
 * the request waiting for that id, so any number of threads may have requests in flight at once
 * (the agent runs them concurrently). Writes of whole request lines are serialised. The wire
 * format (ASCII lines, base64 fields) is described in the agent's docstring.
 */
final class AgentConnection implements AutoCloseable {

  private final SocketChannel channel;
  private final AtomicLong ids = new AtomicLong();
  private final Map<String, CompletableFuture<List<String>>> pending = new ConcurrentHashMap<>();
  private final Object writeLock = new Object();
  private final Thread reader;
  private volatile IOException failure;

  private AgentConnection(SocketChannel channel) {
    this.channel = channel;
    this.reader = Thread.ofPlatform().daemon().name("vm-agent-reader").start(this::readLoop);
  }

  /**
   * Connects to qemu's socket and waits until the agent in the guest answers a ping.
   *
   * @param alive false once qemu has exited, so a dead guest fails fast instead of at the deadline
   */
  static AgentConnection connect(Path socket, Duration deadline, java.util.function.BooleanSupplier alive)
      throws IOException, InterruptedException {
    long end = System.nanoTime() + deadline.toNanos();
    SocketChannel channel = null;
    while (channel == null) {
      if (!alive.getAsBoolean()) {
        throw new IOException("qemu exited before its agent socket appeared");
      }
      if (Files.exists(socket)) {
        try {
          channel = SocketChannel.open(StandardProtocolFamily.UNIX);
          channel.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException e) {
          channel = null;
        }
      }
      if (channel == null) {
        if (System.nanoTime() > end) {
          throw new IOException("no agent socket at " + socket + " after " + deadline.toSeconds() + " s");
        }
        Thread.sleep(20);
      }
    }
    AgentConnection connection = new AgentConnection(channel);
    // Pings written before the guest opens its port wait in qemu and are all answered later;
    // any one answer proves the agent is up.
    CompletableFuture<Void> up = new CompletableFuture<>();
    while (!up.isDone()) {
      if (!alive.getAsBoolean()) {
        connection.close();
        throw new IOException("qemu exited before the guest agent answered");
      }
      if (System.nanoTime() > end) {
        connection.close();
        throw new IOException("the guest agent did not answer within " + deadline.toSeconds() + " s");
      }
      connection.request("ping").thenRun(() -> up.complete(null));
      try {
        up.get(250, TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        // not up yet; ping again
      } catch (ExecutionException e) {
        connection.close();
        throw new IOException("the guest agent failed: " + e.getCause().getMessage(), e.getCause());
      }
    }
    return connection;
  }

  /**
   * Sends one request; the future completes with the response fields after the id (the first
   * is the response kind, e.g. {@code exit}), or exceptionally when the connection is lost.
   */
  CompletableFuture<List<String>> request(String op, String... fields) {
    return requestWithId(newId(), op, fields);
  }

  /** Like {@link #request(String, String...)} with an id from {@link #newId()}, e.g. to cancel it. */
  CompletableFuture<List<String>> requestWithId(String id, String op, String... fields) {
    CompletableFuture<List<String>> future = new CompletableFuture<>();
    IOException failed = failure;
    if (failed != null) {
      future.completeExceptionally(failed);
      return future;
    }
    pending.put(id, future);
    StringBuilder line = new StringBuilder(id).append(' ').append(op);
    for (String field : fields) {
      line.append(' ').append(field);
    }
    line.append('\n');
    ByteBuffer buffer = ByteBuffer.wrap(line.toString().getBytes(StandardCharsets.US_ASCII));
    try {
      synchronized (writeLock) {
        while (buffer.hasRemaining()) {
          channel.write(buffer);
        }
      }
    } catch (IOException e) {
      pending.remove(id);
      future.completeExceptionally(e);
    }
    return future;
  }

  String newId() {
    return Long.toString(ids.incrementAndGet());
  }

  private void readLoop() {
    try (var in = Channels.newInputStream(channel)) {
      byte[] buffer = new byte[64 * 1024];
      java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
      int n;
      while ((n = in.read(buffer)) >= 0) {
        int start = 0;
        for (int i = 0; i < n; i++) {
          if (buffer[i] == '\n') {
            line.write(buffer, start, i - start);
            dispatch(line.toString(StandardCharsets.US_ASCII));
            line.reset();
            start = i + 1;
          }
        }
        line.write(buffer, start, n - start);
      }
      fail(new IOException("the guest agent closed the connection"));
    } catch (IOException e) {
      fail(e);
    }
  }

  private void dispatch(String line) {
    List<String> fields = List.of(line.strip().split(" "));
    if (fields.size() < 2) {
      return;
    }
    CompletableFuture<List<String>> future = pending.remove(fields.get(0));
    if (future != null) {
      future.complete(fields.subList(1, fields.size()));
    }
  }

  private void fail(IOException e) {
    failure = e;
    for (String id : new ArrayList<>(pending.keySet())) {
      CompletableFuture<List<String>> future = pending.remove(id);
      if (future != null) {
        future.completeExceptionally(e);
      }
    }
  }

  @Override
  public void close() {
    try {
      channel.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String encode(byte[] bytes) {
    return bytes.length == 0 ? "-" : Base64.getEncoder().encodeToString(bytes);
  }

  static String encode(String text) {
    return encode(text.getBytes(StandardCharsets.UTF_8));
  }

  /** A list field: base64 items joined by commas, "-" when empty. */
  static String encodeList(List<String> items) {
    if (items.isEmpty()) {
      return "-";
    }
    List<String> encoded = new ArrayList<>(items.size());
    for (String item : items) {
      encoded.add(Base64.getEncoder().encodeToString(item.getBytes(StandardCharsets.UTF_8)));
    }
    return String.join(",", encoded);
  }

  static byte[] decode(String field) {
    return field.equals("-") ? new byte[0] : Base64.getDecoder().decode(field);
  }
}
