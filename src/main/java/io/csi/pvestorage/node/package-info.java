/**
 * Everything the Node service does to the host's filesystems: probing a device for signatures,
 * making a filesystem, mounting, bind mounting, unmounting, reading the mount table, statistics
 * and growing a filesystem.
 *
 * <p>Every action is an argv run through an {@link io.csi.pvestorage.exec.CommandRunner}, never a
 * system call of this JVM, so that the same code works on the host through a command prefix
 * ({@code nsenter --mount=/proc/1/ns/mnt --}), inside the test VM, and against a scripted fake.
 * Paths reach a command only as {@link io.csi.pvestorage.node.HostPath}s. Parsers are pure
 * functions of the tools' machine-readable output. This package knows nothing of CSI or gRPC.
 */
package io.csi.pvestorage.node;
