package io.csi.pvestorage.app;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** Facts about this build, from a resource Maven fills in at build time. */
record BuildInfo(String version, String csiSpecVersion) {

  static BuildInfo load() {
    Properties props = new Properties();
    try (InputStream in = BuildInfo.class.getResourceAsStream("build.properties")) {
      if (in != null) {
        props.load(in);
      }
    } catch (IOException e) {
      // Fall through to the defaults: a missing resource only loses the version string.
    }
    return new BuildInfo(
        props.getProperty("version", "unknown"), props.getProperty("csi.spec.version", "unknown"));
  }
}
