{{/*
Labels of every object: the same as manifests/kustomization.yaml gives, plus Helm's own three.
Call with (dict "root" $ "name" "rollboot-agent"); name is omitted from the CRDs.
*/}}
{{- define "rollboot.labels" -}}
{{- with .name }}
app.kubernetes.io/name: {{ . }}
{{- end }}
app.kubernetes.io/part-of: rollboot
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}

{{- define "rollboot.image" -}}
{{ .image.repository }}:{{ .image.tag | default .root.Chart.AppVersion }}
{{- end }}

{{/* The agent's container must be privileged for nsenter: the command method, or a sentinel command. */}}
{{- define "rollboot.agentPrivileged" -}}
{{- if or (eq .Values.agent.rebootMethod "command") .Values.agent.sentinelCommand }}true{{ end }}
{{- end }}
