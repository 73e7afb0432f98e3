{{/* Names and labels shared by every template. */}}

{{- define "warden.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "warden.fullname" -}}
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

{{- define "warden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "warden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "warden.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "warden.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "warden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "warden.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "warden.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The generation routes, as in deploy/prometheus/alerts.yaml. */}}
{{- define "warden.generationRoutes" -}}
/v1/chat/completions|/v1/completions|/v1/generate
{{- end }}

{{/* SIGTERM grace: preStop sleep + drain + margin, or the operator's value if larger. */}}
{{- define "warden.terminationGrace" -}}
{{- $drain := int (ceil (default 30 .Values.config.server.drain_timeout_s)) }}
{{- $floor := add $drain (int .Values.lifecycle.preStopSleepSeconds) }}
{{- $grace := .Values.lifecycle.terminationGracePeriodSeconds }}
{{- if $grace }}
{{- if le (int $grace) $floor }}
{{- fail (printf "lifecycle.terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds + config.server.drain_timeout_s (%d); raise it or leave it empty" (int $grace) $floor) }}
{{- end }}
{{- int $grace }}
{{- else }}
{{- add $floor 15 }}
{{- end }}
{{- end }}

{{/* The pod's container environment and volumes, shared by the server, the migration Job
     and the audit CronJob. */}}
{{- define "warden.env" -}}
- name: WARDEN_CONFIG
  value: /etc/warden/warden.yaml
- name: HOME
  value: /tmp
{{- end }}

{{- define "warden.envFrom" -}}
envFrom:
  - secretRef:
      name: {{ .Values.existingSecret }}
{{- end }}

{{- define "warden.volumeMounts" -}}
- name: config
  mountPath: /etc/warden
  readOnly: true
- name: data
  mountPath: /var/lib/warden
- name: tmp
  mountPath: /tmp
{{- end }}

{{- define "warden.volumes" -}}
- name: config
  configMap:
    name: {{ .configMap }}
- name: data
{{- if .root.Values.persistence.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .root.Values.persistence.existingClaim }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: tmp
  emptyDir: {}
{{- end }}
