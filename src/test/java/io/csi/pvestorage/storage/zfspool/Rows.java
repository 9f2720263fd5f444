package io.csi.pvestorage.storage.zfspool;

import java.util.ArrayList;
import java.util.List;

/**
 * Builds {@code zfs list -H -p -o }{@link ZfsListParser#COLUMNS} lines for scripted service
 * tests, in the format the recorded fixtures show (tabs, {@code -} for unset). Parser tests use
 * the recorded output itself.
 */
final class Rows {

  private final List<String> lines = new ArrayList<>();

  static Rows of() {
    return new Rows();
  }

  /** The pool dataset row. */
  Rows pool(String name, long used, long available) {
    return add(new Row(name, "filesystem").used(used).available(available).refquota("0"));
  }

  Rows add(Row row) {
    lines.add(row.line());
    return this;
  }

  String text() {
    return lines.isEmpty() ? "" : String.join("\n", lines) + "\n";
  }

  static Row zvol(String name, long volsize) {
    return new Row(name, "volume").volsize(Long.toString(volsize)).volblocksize("16384");
  }

  static Row subvol(String name, long refquota) {
    return new Row(name, "filesystem").refquota(Long.toString(refquota));
  }

  static Row snap(String name, long txg) {
    return new Row(name, "snapshot").txg(txg).available("-");
  }

  /** One row; unset columns print as zfs prints them. */
  static final class Row {
    private final String name;
    private final String type;
    private String volsize = "-";
    private String refquota = "-";
    private String origin = "-";
    private long creation = 1795545740L;
    private long used = 57344;
    private String available = "6690017280";
    private String volblocksize = "-";
    private String guid = "1000";
    private long txg = 1;
    private String clones = "";
    private String recordedRefquota = "-";
    private String csiName = "-";
    private String pvcNamespace = "-";
    private String pvcName = "-";
    private String pvName = "-";
    private String snapCsiName = "-";
    private String deletedVolname = "-";

    Row(String name, String type) {
      this.name = name;
      this.type = type;
      if (!type.equals("snapshot")) {
        clones = "-";
      }
    }

    Row volsize(String v) { volsize = v; return this; }
    Row refquota(String v) { refquota = v; return this; }
    Row origin(String v) { origin = v; return this; }
    Row creation(long v) { creation = v; return this; }
    Row used(long v) { used = v; return this; }
    Row available(long v) { available = Long.toString(v); return this; }
    Row available(String v) { available = v; return this; }
    Row volblocksize(String v) { volblocksize = v; return this; }
    Row guid(String v) { guid = v; return this; }
    Row txg(long v) { txg = v; return this; }
    Row clones(String v) { clones = v; return this; }
    Row recordedRefquota(long v) { recordedRefquota = Long.toString(v); return this; }
    Row csiName(String v) { csiName = v; return this; }
    Row pvc(String ns, String n) { pvcNamespace = ns; pvcName = n; return this; }
    Row pvName(String v) { pvName = v; return this; }
    Row snapCsiName(String v) { snapCsiName = v; return this; }
    Row deletedVolname(String v) { deletedVolname = v; return this; }

    String line() {
      return String.join("\t", name, type, volsize, refquota, origin, Long.toString(creation),
          Long.toString(used), Long.toString(used), available, "57344", volblocksize, guid,
          Long.toString(txg), clones, recordedRefquota, csiName, pvcNamespace, pvcName, pvName,
          snapCsiName, deletedVolname);
    }
  }
}
