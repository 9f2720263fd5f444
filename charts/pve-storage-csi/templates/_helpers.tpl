{{- define "pve-storage-csi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "pve-storage-csi.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "pve-storage-csi.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "pve-storage-csi.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "pve-storage-csi.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "pve-storage-csi.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "pve-storage-csi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pve-storage-csi.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* registry/repository:tag, and @digest when one is set (the runtime then pulls by digest) */}}
{{- define "pve-storage-csi.image" -}}
{{- $image := .Values.image }}
{{- $first := first (splitList "/" $image.repository) }}
{{- if and $image.registry (gt (len (splitList "/" $image.repository)) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) }}
{{- fail (printf "image.repository %q starts with the registry host %q; set image.registry to it and image.repository to the rest" $image.repository $first) }}
{{- end }}
{{- if $image.registry }}{{ $image.registry }}/{{ end }}{{ $image.repository }}:{{ $image.tag | default .Chart.AppVersion }}{{ if $image.digest }}@{{ $image.digest }}{{ end }}
{{- end }}

{{/* driver.shutdownGrace in whole seconds (the schema allows s and m) */}}
{{- define "pve-storage-csi.shutdownGraceSeconds" -}}
{{- $grace := .Values.driver.shutdownGrace }}
{{- if hasSuffix "m" $grace }}{{ mul (trimSuffix "m" $grace | atoi) 60 }}{{ else }}{{ trimSuffix "s" $grace | atoi }}{{ end }}
{{- end }}

{{/* terminationGracePeriodSeconds of a pod ("node" or "controller"), refused when shorter than the driver's shutdown grace */}}
{{- define "pve-storage-csi.terminationGrace" -}}
{{- $pod := index .Values .pod }}
{{- $grace := include "pve-storage-csi.shutdownGraceSeconds" . | atoi }}
{{- if lt (int $pod.terminationGracePeriodSeconds) $grace }}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) is shorter than driver.shutdownGrace (%s): the kubelet would kill the driver while calls still finish" .pod (int $pod.terminationGracePeriodSeconds) .Values.driver.shutdownGrace) }}
{{- end }}
{{- $pod.terminationGracePeriodSeconds }}
{{- end }}

{{/* Liveness probe of a sidecar's --http-endpoint */}}
{{- define "pve-storage-csi.sidecarLiveness" -}}
livenessProbe:
  httpGet: {path: {{ .path }}, port: {{ .port }}}
  initialDelaySeconds: 10
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 5
{{- end }}

{{/* hostPID when the command prefix enters the host's namespaces */}}
{{- define "pve-storage-csi.hostPID" -}}
{{- if contains "nsenter" (join " " .Values.driver.commandPrefix) }}true{{ else }}false{{ end }}
{{- end }}

{{/* hostIPC when lvm runs inside the container: its udev cookies live in the IPC namespace, and the host's udev completes them in the host's */}}
{{- define "pve-storage-csi.hostIPC" -}}
{{- if .Values.driver.commandPrefix }}false{{ else }}true{{ end }}
{{- end }}

{{- define "pve-storage-csi.configPath" -}}
{{- if eq .Values.storageConfig.source "hostPath" }}/etc/pve-storage-csi/host/{{ base .Values.storageConfig.hostPath }}{{ else }}/etc/pve-storage-csi/storage.cfg{{ end }}
{{- end }}

{{/* Security context of every sidecar: no privileges, read-only root. */}}
{{- define "pve-storage-csi.sidecarSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "pve-storage-csi.driverArgs" -}}
- --endpoint=unix:///csi/csi.sock
- --driver-name={{ .Values.driverName }}
- --metrics-address={{ .Values.driver.metricsHost | default "$(POD_IP)" }}:{{ .Values.driver.metricsPort }}
- --log-level={{ .Values.driver.logLevel }}
- --log-format={{ .Values.driver.logFormat }}
- --lock={{ .Values.driver.lock }}
- --shutdown-grace={{ .Values.driver.shutdownGrace }}
{{- range .Values.driver.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{- define "pve-storage-csi.downwardEnv" -}}
- name: NODE_NAME
  valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
- name: POD_NAME
  valueFrom: {fieldRef: {fieldPath: metadata.name}}
- name: POD_NAMESPACE
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: POD_IP
  valueFrom: {fieldRef: {fieldPath: status.podIP}}
{{- end }}

{{/* storage.cfg text from .Values.storageConfig.storages: sections separated by a blank line, keys sorted, one tab indent */}}
{{- define "pve-storage-csi.storageCfg" -}}
{{- range $i, $s := .Values.storageConfig.storages }}
{{- if $i }}{{ "\n" }}{{ end }}
{{ $s.type }}: {{ $s.id }}
{{- range $k := keys ($s.keys | default dict) | sortAlpha }}
{{ printf "\t%s %v" $k (get $s.keys $k) }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" when the node plugin's orphan check runs (orphans.interval is not zero). */}}
{{- define "pve-storage-csi.orphanCheck" -}}
{{- if not (regexMatch "^0+(ms|s|m|h)?$" (toString .Values.orphans.interval)) -}}
true
{{- else if .Values.orphans.cleanup -}}
{{- fail "orphans.cleanup needs the orphan check: set orphans.interval to a duration from 1m to 24h, not 0" -}}
{{- end -}}
{{- end -}}
