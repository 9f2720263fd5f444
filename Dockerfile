# syntax=docker/dockerfile:1
# pve-storage-csi: CSI driver for node-local LVM-thin and ZFS pools.
#
# For machines with a Docker engine and a registry: `docker build -t pve-storage-csi .`.
# src/image/build makes the same image without either (docs/image.md). Both follow
# src/image/image.properties, and PackagingTest checks that this file says what those facts say:
# Debian suite and packages, the runtime's modules and jlink options, paths, user, environment,
# entrypoint, command, labels and the class-data sharing training.
#
# Stage 1 builds the jar with Maven (protoc and the grpc-java plugin come from Maven Central) and
# trims the JDK to the driver's modules with jlink.
# Stage 2 is the runtime: Debian with the storage and filesystem tools, the trimmed runtime and
# the driver. By default the chart runs the host's own lvm/zfs through a command prefix that
# enters the host's namespaces (nsenter --target=1 --mount --uts --ipc --net --pid --); the
# tools in the image are the fallback.

FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
COPY pom.xml ./
COPY csi-spec ./csi-spec
COPY src ./src
RUN mvn -B -q -DskipTests package
RUN jlink --add-modules java.base,java.desktop,java.naming,java.net.http,java.sql,jdk.httpserver,jdk.jfr,jdk.management,jdk.unsupported \
      --strip-debug --no-header-files --no-man-pages --generate-cds-archive --output /tmp/jre

FROM debian:bookworm-slim
ARG VERSION=0.1.0-SNAPSHOT
LABEL org.opencontainers.image.title="pve-storage-csi" \
      org.opencontainers.image.description="CSI driver for node-local LVM-thin and ZFS pools with Proxmox VE storage semantics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/pve-storage-csi/pve-storage-csi"

# zfsutils-linux lives in Debian's contrib component.
RUN sed -i 's/^Components: main$/Components: main contrib/' /etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && apt-get -y upgrade \
 && apt-get install -y --no-install-recommends \
      lvm2 thin-provisioning-tools zfsutils-linux e2fsprogs xfsprogs util-linux mount udev \
 && rm -rf /var/lib/apt/lists/*

ENV JAVA_HOME=/opt/java/openjdk
ENV PATH=/opt/java/openjdk/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY --from=build /tmp/jre /opt/java/openjdk

WORKDIR /app
COPY --from=build /src/target/lib /app/lib
COPY --from=build /src/target/pve-storage-csi.jar /app/pve-storage-csi.jar
COPY src/main/jvm/jvm.options /app/jvm.options

# Class-data sharing archive: a training run of the driver in node mode records the classes it
# loads, so every start of the container maps them instead of loading and verifying them again
# (docs/development.md "Start-up and memory"). The same script runs in src/image/build.
RUN --mount=type=bind,source=src/image/train-cds,target=/tmp/train-cds \
    sh /tmp/train-cds /app/jvm.options /app/pve-storage-csi.jar /app/driver.jsa

USER 0:0
ENTRYPOINT ["java", "@/app/jvm.options", "-XX:SharedArchiveFile=/app/driver.jsa", "-jar", "/app/pve-storage-csi.jar"]
CMD ["serve", "--help"]
