package io.csi.pvestorage.conformance;

import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * Counts the conformance cases of one suite class by outcome and prints the tally when the
 * class ends, so that a run shows per backend how many cases ran and how many passed.
 */
public final class CaseTally implements TestWatcher, AfterAllCallback {

  private static final ExtensionContext.Namespace NAMESPACE =
      ExtensionContext.Namespace.create(CaseTally.class);

  private record Counts(AtomicInteger passed, AtomicInteger failed, AtomicInteger skipped) {
    Counts() {
      this(new AtomicInteger(), new AtomicInteger(), new AtomicInteger());
    }
  }

  /** The counts kept in the class's store; a test method's context is a child of it. */
  private static Counts counts(ExtensionContext context) {
    ExtensionContext classContext = context.getTestMethod().isPresent()
        ? context.getParent().orElseThrow() : context;
    return classContext.getStore(NAMESPACE).computeIfAbsent(Counts.class, k -> new Counts(),
        Counts.class);
  }

  @Override
  public void testSuccessful(ExtensionContext context) {
    counts(context).passed().incrementAndGet();
    System.out.println("conformance ok: " + context.getDisplayName());
  }

  @Override
  public void testFailed(ExtensionContext context, Throwable cause) {
    counts(context).failed().incrementAndGet();
    System.out.println("conformance FAILED: " + context.getDisplayName() + ": " + cause);
  }

  @Override
  public void testAborted(ExtensionContext context, Throwable cause) {
    counts(context).skipped().incrementAndGet();
  }

  @Override
  public void testDisabled(ExtensionContext context, Optional<String> reason) {
    counts(context).skipped().incrementAndGet();
  }

  @Override
  public void afterAll(ExtensionContext context) {
    Counts c = counts(context);
    int total = c.passed().get() + c.failed().get() + c.skipped().get();
    System.out.println(String.format(Locale.ROOT,
        "conformance %s: %d cases, %d passed, %d failed, %d skipped",
        context.getDisplayName(), total, c.passed().get(), c.failed().get(), c.skipped().get()));
  }
}
