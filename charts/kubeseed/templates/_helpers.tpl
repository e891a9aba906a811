{{/*
kubeseed.fullname: the prefix of every object's name (values.yaml fullnameOverride). It is
cut at 47 characters so that the longest DNS-label name, "<prefix>-manager-metrics" (a
Service), still fits in 63.
*/}}
{{- define "kubeseed.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 47 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 47 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/*
kubeseed.name: the name of the manager's Deployment, ServiceAccount and ClusterRole.
*/}}
{{- define "kubeseed.name" -}}
{{- include "kubeseed.fullname" . }}-manager
{{- end -}}

{{/*
kubeseed.selectorLabels pick the manager's pods; they never change after install, since a
Deployment's selector is immutable.
*/}}
{{- define "kubeseed.selectorLabels" -}}
app.kubernetes.io/name: kubeseed
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{/*
kubeseed.labels: the labels of every object.
*/}}
{{- define "kubeseed.labels" -}}
{{ include "kubeseed.selectorLabels" . }}
app.kubernetes.io/part-of: kubeseed
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
kubeseed.image: repository:tag, the tag defaulting to the chart's appVersion.
*/}}
{{- define "kubeseed.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
