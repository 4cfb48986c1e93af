{{/* Names and labels shared by the gitsync chart's templates. */}}

{{/* The chart's name, or nameOverride. */}}
{{- define "gitsync.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name: fullnameOverride, or the release name (plus the chart's name
     unless the release name already contains it). */}}
{{- define "gitsync.fullname" -}}
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

{{/* The operator's objects: <fullname>-operator (gitsync-operator for a release "gitsync"). */}}
{{- define "gitsync.operatorName" -}}
{{- printf "%s-operator" (include "gitsync.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gitsync.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gitsync.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gitsync.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "gitsync.labels" -}}
helm.sh/chart: {{ include "gitsync.chart" . }}
{{ include "gitsync.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: gitsync
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gitsync.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gitsync.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gitsync.leaseName" -}}
{{- default (include "gitsync.operatorName" .) .Values.leaderElection.leaseName }}
{{- end }}

{{- define "gitsync.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The operator's permissions in the namespaces it watches; see deploy/20-clusterrole.yaml. */}}
{{- define "gitsync.watchRules" -}}
# GitSync, GitConnection, SyncSecret: read and watch.
- apiGroups: ["gitsync.dev"]
  resources: ["gitsyncs", "gitconnections", "syncsecrets"]
  verbs: ["get", "list", "watch"]
# ...and report status (server-side apply of the /status subresource only).
- apiGroups: ["gitsync.dev"]
  resources: ["gitsyncs/status", "gitconnections/status", "syncsecrets/status"]
  verbs: ["patch"]
# Credentials and workspace tokens referenced by those objects.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# Apply journals (one ConfigMap per GitSync, written by compare-and-swap; removed when an
# apply is abandoned).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
# Events (kube-rs's Recorder uses events.k8s.io; the core group is for older clusters).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}
