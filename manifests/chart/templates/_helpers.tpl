{{/*
The chart's name, or nameOverride.
*/}}
{{- define "rollboot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, else the release's name when it contains the chart's name
(release "rollboot" gives "rollboot"), else "<release>-<name>". Suffixes ("-operator", "-agent-own-node") are
appended to it, so it is cut to leave them room under the 63 characters of a label value.
*/}}
{{- define "rollboot.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- $name := include "rollboot.name" . }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 46 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 46 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Names of the two workloads (and of their ClusterRoles and the selector label of their pods). */}}
{{- define "rollboot.operator.fullname" -}}
{{- printf "%s-operator" (include "rollboot.fullname" .) }}
{{- end }}

{{- define "rollboot.agent.fullname" -}}
{{- printf "%s-agent" (include "rollboot.fullname" .) }}
{{- end }}

{{/* Service account names: the value, else the workload's name (also with create=false: bring your own). */}}
{{- define "rollboot.operator.serviceAccountName" -}}
{{- default (include "rollboot.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- end }}

{{- define "rollboot.agent.serviceAccountName" -}}
{{- default (include "rollboot.agent.fullname" .) .Values.agent.serviceAccount.name }}
{{- end }}

{{/*
Labels of every object: the same as manifests/kustomization.yaml gives, plus Helm's own three and commonLabels.
Call with (dict "root" $ "name" "rollboot-agent"); name is omitted from the CRDs and the Namespace.
*/}}
{{- define "rollboot.labels" -}}
{{- with .name }}
app.kubernetes.io/name: {{ . }}
{{- end }}
app.kubernetes.io/part-of: rollboot
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels of a pod template: the selector's, commonLabels, then podLabels.
Call with (dict "root" $ "name" "rollboot-agent" "podLabels" $agent.podLabels).
*/}}
{{- define "rollboot.podLabels" -}}
app.kubernetes.io/name: {{ .name }}
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- with .podLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
registry/repository:tag[@digest]. The registry is the workload's, else image.registry; the tag the workload's,
else the chart's appVersion. Call with (dict "root" $ "image" $operator.image).
*/}}
{{- define "rollboot.image" -}}
{{- $registry := .image.registry | default .root.Values.image.registry }}
{{- $tag := .image.tag | default .root.Chart.AppVersion | toString }}
{{- if $registry }}{{ $registry }}/{{ end }}{{ .image.repository }}:{{ $tag }}
{{- with .image.digest }}@{{ . }}{{ end }}
{{- end }}

{{/* The agent's container must be privileged for nsenter: the command method, or a sentinel command. */}}
{{- define "rollboot.agentPrivileged" -}}
{{- if or (eq .Values.agent.rebootMethod "command") .Values.agent.sentinelCommand }}true{{ end }}
{{- end }}

{{/* The metrics Service is rendered when asked for, or when a ServiceMonitor needs it. */}}
{{- define "rollboot.metricsService" -}}
{{- if or .Values.metrics.service.enabled .Values.metrics.serviceMonitor.enabled }}
{{- if not .Values.operator.metricsPort }}
{{- fail "metrics.service and metrics.serviceMonitor need operator.metricsPort, which is 0" }}
{{- end }}true
{{- end }}
{{- end }}
