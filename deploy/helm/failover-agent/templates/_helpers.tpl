{{/*
Chart name, truncated to 63 characters (the DNS label limit).
*/}}
{{- define "failover-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the objects: the release name when it already contains the chart name
(so release "failover-agent" gives "failover-agent"), else "<release>-<chart>".
*/}}
{{- define "failover-agent.fullname" -}}
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

{{/*
"<chart>-<version>" for the helm.sh/chart label.
*/}}
{{- define "failover-agent.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: immutable on the DaemonSet, so only name and instance.
*/}}
{{- define "failover-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "failover-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels (app.kubernetes.io/*) for every object.
*/}}
{{- define "failover-agent.labels" -}}
helm.sh/chart: {{ include "failover-agent.chart" . }}
{{ include "failover-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: failover-agent
{{- end }}

{{/*
The ServiceAccount's name.
*/}}
{{- define "failover-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "failover-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The container image: repository@digest, or repository:tag (tag defaults to appVersion).
*/}}
{{- define "failover-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/*
Fails the render on settings the agent would reject at start-up.
*/}}
{{- define "failover-agent.validate" -}}
{{- if ne (empty .Values.route53.clusterId) (empty .Values.route53.publicHostname) }}
{{- fail "route53.clusterId and route53.publicHostname turn Route 53 management on together: set both or neither" }}
{{- end }}
{{- if not (has .Values.logFormat (list "json" "text")) }}
{{- fail (printf "logFormat must be json or text, not %q" .Values.logFormat) }}
{{- end }}
{{- if not (has .Values.service.type (list "ClusterIP" "LoadBalancer" "NodePort")) }}
{{- fail (printf "service.type must be ClusterIP, LoadBalancer or NodePort, not %q" .Values.service.type) }}
{{- end }}
{{- end }}
