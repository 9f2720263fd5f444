# pve-storage-csi: CSI driver for node-local LVM-thin and ZFS pools.
#
# Stage 1 builds the jar with Maven (protoc and the grpc-java plugin come from Maven Central).
# Stage 2 is the runtime: Debian with the storage and filesystem tools, and a Temurin JRE 25.
# By default the driver runs the host's own lvm/zfs through a command prefix
# (--command-prefix 'nsenter --mount=/proc/1/ns/mnt --'); the tools in the image are the
# fallback for clusters that do not enter the host's mount namespace.

FROM maven:3.9-eclipse-temurin-25 AS build
WORKDIR /src
COPY pom.xml ./
COPY csi-spec ./csi-spec
COPY src ./src
RUN mvn -B -q -DskipTests package

FROM eclipse-temurin:25-jre AS jre

FROM debian:trixie-slim
ARG VERSION=0.1.0-SNAPSHOT
LABEL org.opencontainers.image.title="pve-storage-csi" \
      org.opencontainers.image.description="CSI driver for node-local LVM-thin and ZFS pools with Proxmox VE storage semantics" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/pve-storage-csi/pve-storage-csi"

# zfsutils-linux lives in Debian's contrib component.
RUN sed -i 's/^Components: main$/Components: main contrib/' /etc/apt/sources.list.d/debian.sources \
 && apt-get update \
 && apt-get install -y --no-install-recommends \
      lvm2 thin-provisioning-tools zfsutils-linux e2fsprogs xfsprogs util-linux udev \
 && rm -rf /var/lib/apt/lists/*

ENV JAVA_HOME=/opt/java/openjdk
ENV PATH="${JAVA_HOME}/bin:${PATH}"
COPY --from=jre /opt/java/openjdk /opt/java/openjdk

WORKDIR /app
COPY --from=build /src/target/pve-storage-csi.jar /app/pve-storage-csi.jar
COPY --from=build /src/target/lib /app/lib
COPY src/main/jvm/jvm.options /app/jvm.options

# Class-data sharing archive: a short training run of the driver records the classes it loads,
# so every start of the container maps them instead of loading and verifying them again
# (measured: ready in 0.56 s instead of 1.44 s; README "Start-up and memory").
RUN java @/app/jvm.options -XX:ArchiveClassesAtExit=/app/driver.jsa -jar /app/pve-storage-csi.jar \
      serve --mode=controller --endpoint=unix:///tmp/train.sock --metrics-address= & \
    pid=$!; \
    for i in $(seq 100); do \
      java @/app/jvm.options -jar /app/pve-storage-csi.jar client \
        --endpoint=unix:///tmp/train.sock info >/dev/null 2>&1 && break; \
      sleep 0.2; \
    done; \
    kill -TERM "$pid"; wait "$pid"; test -s /app/driver.jsa

ENTRYPOINT ["java", "@/app/jvm.options", "-XX:SharedArchiveFile=/app/driver.jsa", "-jar", "/app/pve-storage-csi.jar"]
CMD ["serve", "--help"]
