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

{{- define "pve-storage-csi.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
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
