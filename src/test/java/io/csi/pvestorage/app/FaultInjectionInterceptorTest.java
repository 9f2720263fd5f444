package io.csi.pvestorage.app;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import csi.v1.GetPluginInfoRequest;
import csi.v1.GetPluginInfoResponse;
import csi.v1.IdentityGrpc;
import csi.v1.ProbeRequest;
import csi.v1.ProbeResponse;
import io.csi.pvestorage.exec.Command;
import io.csi.pvestorage.exec.CommandRunner;
import io.csi.pvestorage.exec.FakeCommandRunner;
import io.csi.pvestorage.exec.FaultPoint;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Through a real gRPC server: the interceptor hands the call's method to the fault point, and
 * the commands the handler runs on its thread are the ones counted.
 */
class FaultInjectionInterceptorTest {

  @TempDir Path dir;

  @Test
  void onlyTheArmedMethodsCallIsCountedAndHalted() throws Exception {
    AtomicInteger halts = new AtomicInteger();
    FaultPoint point = new FaultPoint(dir, halts::incrementAndGet);
    FakeCommandRunner fake = new FakeCommandRunner();
    CommandRunner commands = point.wrap(fake);
    fake.expect("lvs", "pve").thenSucceed("").expect("lvs", "pve").thenSucceed("");
    IdentityGrpc.IdentityImplBase service = new IdentityGrpc.IdentityImplBase() {
      @Override
      public void probe(ProbeRequest request, StreamObserver<ProbeResponse> response) {
        commands.run(Command.of(Duration.ofSeconds(5), "lvs", "pve"));
        response.onNext(ProbeResponse.getDefaultInstance());
        response.onCompleted();
      }

      @Override
      public void getPluginInfo(GetPluginInfoRequest request,
          StreamObserver<GetPluginInfoResponse> response) {
        commands.run(Command.of(Duration.ofSeconds(5), "lvs", "pve"));
        response.onNext(GetPluginInfoResponse.getDefaultInstance());
        response.onCompleted();
      }
    };
    String name = InProcessServerBuilder.generateName();
    Server server = InProcessServerBuilder.forName(name).directExecutor()
        .addService(ServerInterceptors.intercept(service, new FaultInjectionInterceptor(point)))
        .build().start();
    ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    try {
      Files.writeString(dir.resolve(FaultPoint.ARM_FILE), "GetPluginInfo after 1\n");
      IdentityGrpc.IdentityBlockingStub identity = IdentityGrpc.newBlockingStub(channel);
      identity.probe(ProbeRequest.getDefaultInstance());
      assertEquals(0, halts.get(), "Probe is not the armed method");
      identity.getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
      assertEquals(1, halts.get());
      assertEquals("after 1 lvs\n", Files.readString(dir.resolve(FaultPoint.HALTED_FILE)));
      assertTrue(Files.notExists(dir.resolve(FaultPoint.ARM_FILE)));
      fake.verifyAllConsumed();
    } finally {
      channel.shutdownNow();
      server.shutdownNow();
    }
  }
}
