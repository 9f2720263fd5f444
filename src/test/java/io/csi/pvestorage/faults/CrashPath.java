package io.csi.pvestorage.faults;

import io.csi.pvestorage.conformance.Backend;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * One mutating RPC path of the crash suite: how to prepare the state the call needs (with
 * unarmed calls), the call itself (run armed, then retried after the restart) and the checks
 * after it answered OK.
 *
 * @param name for the table, e.g. {@code CreateVolume from snapshot, larger}
 * @param method the bare gRPC method the fault point is armed for
 */
record CrashPath(String name, String method, Predicate<Backend> backends,
    Function<CrashAtEveryStepIT, Scenario> preparer) {

  /** The prepared state of one run of the path. */
  interface Scenario {
    /** The call under test; the same request every time, as a sidecar's retry. */
    void call();

    /**
     * What must hold once the call answered OK: the object is there once or gone, data written
     * before reads back unchanged.
     */
    void verify();
  }

  boolean appliesTo(Backend backend) {
    return backends.test(backend);
  }

  Scenario prepare(CrashAtEveryStepIT suite) {
    return preparer.apply(suite);
  }
}
