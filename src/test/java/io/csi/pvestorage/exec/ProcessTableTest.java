package io.csi.pvestorage.exec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessTableTest {

  @TempDir Path proc;

  private void process(String pid, String comm, String environ) throws Exception {
    Path dir = Files.createDirectories(proc.resolve(pid));
    Files.writeString(dir.resolve("comm"), comm + "\n");
    Files.write(dir.resolve("environ"), environ.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void findsProcessesByAnExactEnvironmentEntryAndSkipsZombies() throws Exception {
    process("120", "lvcreate", "PATH=/bin\0PVE_CSI_STORAGE=local-lvm\0PVE_CSI_LOCK_HOLDER=a_1\0");
    process("121", "lvcreate", "PVE_CSI_STORAGE=local-lvm2\0PVE_CSI_LOCK_HOLDER=a_1\0");
    process("122", "lvs", "XPVE_CSI_STORAGE=local-lvm\0");
    process("123", "lvremove", ""); // a zombie: its environment is gone with its memory
    process("124", "zfs", "PVE_CSI_LOCK_HOLDER=b_2\0PVE_CSI_STORAGE=local-lvm");
    Files.createDirectories(proc.resolve("self"));
    Files.createDirectories(proc.resolve("125")); // vanished: nothing to read

    List<ProcessTable.MarkedProcess> found = new ProcessTable(proc)
        .withEnvironment("PVE_CSI_STORAGE", "local-lvm");

    assertEquals(List.of(
        new ProcessTable.MarkedProcess(120, "lvcreate",
            Map.of("PVE_CSI_STORAGE", "local-lvm", "PVE_CSI_LOCK_HOLDER", "a_1")),
        new ProcessTable.MarkedProcess(124, "zfs",
            Map.of("PVE_CSI_STORAGE", "local-lvm", "PVE_CSI_LOCK_HOLDER", "b_2"))),
        found.stream().sorted(java.util.Comparator.comparingLong(
            ProcessTable.MarkedProcess::pid)).toList());
  }

  @Test
  void seesARealProcessWhileItRuns() throws Exception {
    String marker = "table-" + System.nanoTime();
    ProcessBuilder builder = new ProcessBuilder("sleep", "5");
    builder.environment().put("PVE_CSI_TEST", marker);
    Process sleep = builder.start();
    try {
      List<ProcessTable.MarkedProcess> found =
          ProcessTable.system().withEnvironment("PVE_CSI_TEST", marker);
      assertEquals(1, found.size(), found.toString());
      assertEquals(sleep.pid(), found.getFirst().pid());
      assertEquals("sleep", found.getFirst().name());
    } finally {
      sleep.destroy();
      assertTrue(sleep.waitFor(5, java.util.concurrent.TimeUnit.SECONDS));
    }
    assertEquals(List.of(), ProcessTable.system().withEnvironment("PVE_CSI_TEST", marker));
  }
}
