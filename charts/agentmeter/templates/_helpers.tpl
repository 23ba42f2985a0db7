{{/* Chart name, overridable. */}}
{{- define "agentmeter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name for every object. */}}
{{- define "agentmeter.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "agentmeter.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "agentmeter.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "agentmeter.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "agentmeter.operator.fullname" -}}
{{- printf "%s-operator" (include "agentmeter.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The operator's replicas: one on the embedded store (one file, one writer), else the value. */}}
{{- define "agentmeter.operator.replicas" -}}
{{- if eq .Values.store.mode "embedded" }}1{{ else }}{{ .Values.operator.replicas }}{{ end }}
{{- end }}

{{/* The embedded store's claim: an existing one or the chart's. */}}
{{- define "agentmeter.store.claimName" -}}
{{- .Values.store.embedded.persistence.existingClaim | default (printf "%s-store" (include "agentmeter.operator.fullname" .) | trunc 63 | trimSuffix "-") }}
{{- end }}

{{- define "agentmeter.agent.fullname" -}}
{{- printf "%s-agent" (include "agentmeter.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels; helm.sh/chart changes every release, so it never goes into selectors. */}}
{{- define "agentmeter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "agentmeter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: agentmeter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "agentmeter.operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentmeter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "agentmeter.agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agentmeter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "agentmeter.operator.labels" -}}
{{ include "agentmeter.labels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "agentmeter.agent.labels" -}}
{{ include "agentmeter.labels" . }}
app.kubernetes.io/component: agent
{{- end }}

{{- define "agentmeter.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "agentmeter.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "agentmeter.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (include "agentmeter.agent.fullname" .) .Values.agent.serviceAccount.name }}
{{- else }}
{{- required "agent.serviceAccount.name is required when agent.serviceAccount.create is false" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is pinned. */}}
{{- define "agentmeter.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (default .chart.AppVersion .image.tag) }}
{{- end }}
{{- end }}

{{- define "agentmeter.agent.priorityClassName" -}}
{{- if .Values.agent.priorityClass.create }}
{{- default (include "agentmeter.agent.fullname" .) .Values.agent.priorityClass.name }}
{{- else }}
{{- .Values.agent.priorityClass.name }}
{{- end }}
{{- end }}

{{/* The Lease the operator replicas compete for. */}}
{{- define "agentmeter.operator.leaseName" -}}
{{- include "agentmeter.operator.fullname" . }}
{{- end }}

{{/* Monitoring CRs render only when asked for AND the Prometheus Operator API is served. */}}
{{- define "agentmeter.prometheusOperatorPresent" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end }}
{{- end }}
