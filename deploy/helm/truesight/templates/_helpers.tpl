{{/* The chart's name. */}}
{{- define "truesight.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name. */}}
{{- define "truesight.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "truesight.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "truesight.selectorLabels" -}}
app.kubernetes.io/name: {{ include "truesight.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "truesight.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "truesight.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "truesight.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "truesight.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "truesight.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.registry }}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The tier, checked. */}}
{{- define "truesight.tier" -}}
{{- if not (has .Values.tier (list "detect" "enforce")) }}
{{- fail (printf "tier: %q is not detect or enforce" .Values.tier) }}
{{- end }}
{{- .Values.tier }}
{{- end }}

{{/*
The capabilities of each tier; docs/kubernetes.md says why each is needed.
detect: load the sensor (BPF, PERFMON), RLIMIT_MEMLOCK on kernels before
5.11 (SYS_RESOURCE), read other processes' /proc entries (SYS_PTRACE) and
files of every owner in their roots (DAC_READ_SEARCH), and run a
container's own ls and ps under its root for the scan's libc view
(SYS_CHROOT). enforce adds SYS_ADMIN for fanotify permission events and
KILL for stopping a process that renamed or linked over a protected file.
*/}}
{{- define "truesight.capabilities" -}}
- BPF
- PERFMON
- SYS_RESOURCE
- SYS_PTRACE
- DAC_READ_SEARCH
- SYS_CHROOT
{{- if eq (include "truesight.tier" .) "enforce" }}
- SYS_ADMIN
- KILL
{{- end }}
{{- end }}

{{- define "truesight.securityContext" -}}
{{- $base := dict
  "runAsUser" 0
  "runAsGroup" 0
  "privileged" false
  "allowPrivilegeEscalation" false
  "readOnlyRootFilesystem" true
  "seccompProfile" (dict "type" "Unconfined")
  "capabilities" (dict "drop" (list "ALL") "add" (include "truesight.capabilities" . | fromYamlArray))
}}
{{- toYaml (mergeOverwrite $base .Values.containerSecurityContext) }}
{{- end }}
