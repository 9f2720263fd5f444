package io.csi.pvestorage.faults;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * How the crash suite tells that a guest JVM really used the AOT cache made on the host: from
 * its {@code -Xlog:class+load} lines, where the source of a class says where it came from.
 */
class HostAotCacheTest {

  @Test
  void countsTheClassesTheCacheGaveAgainstAllLoaded() {
    String log = """
        [0.051s][info][class,load] java.lang.Object source: shared objects file
        [0.052s][info][class,load] java.lang.String source: shared objects file
        [0.900s][info][class,load] io.csi.pvestorage.app.Main source: shared objects file
        [1.200s][info][class,load] io.csi.pvestorage.zfs.ZfsList source: file:/mnt/project/target/pve-storage-csi.jar
        [1.300s][info][class,load] jdk.internal.reflect.Generated source: __JVM_LookupDefineClass__
        [1.400s][info][class,load] a continuation line without a source
        """;

    assertArrayEquals(new long[] {3, 5}, HostAotCache.countCachedClasses(log));
  }

  @Test
  void aJvmThatLoggedNothingCountsNothing() {
    assertArrayEquals(new long[] {0, 0}, HostAotCache.countCachedClasses(""));
  }

  @Test
  void findsWhenEachStageOfTheStartFirstLoadedAClass() {
    String log = """
        [0.051s][info][class,load] java.lang.Object source: shared objects file
        [19.188s][info][class,load] io.csi.pvestorage.app.Main source: shared objects file
        [20.500s][info][class,load] io.fabric8.kubernetes.client.Config source: shared objects file
        [21.000s][info][class,load] io.fabric8.kubernetes.client.KubernetesClient source: shared objects file
        [30.250s][info][class,load] io.csi.pvestorage.app.CsiServer source: shared objects file
        """;

    assertEquals(java.util.Map.of("io.csi.pvestorage.app.Main", "19.188s", "io.fabric8.", "20.500s",
            "io.csi.pvestorage.app.CsiServer", "30.250s", "csi.v1.CreateVolumeRequest", "-"),
        HostAotCache.firstLoads(log, java.util.List.of("io.csi.pvestorage.app.Main ",
            "io.fabric8.", "io.csi.pvestorage.app.CsiServer ", "csi.v1.CreateVolumeRequest ")));
  }
}
