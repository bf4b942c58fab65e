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
The listener Route 53's checkers reach, which is every check's default protocol and
port (env PUBLIC_PROTOCOL, PUBLIC_PORT): the shared ALB's listener with the Ingress
option, else the NLB's TLS listener when service.tls is set, else the Service's port.
*/}}
{{- define "failover-agent.checkProtocol" -}}
{{- if .Values.ingress.enabled }}{{ .Values.ingress.protocol }}{{ else if .Values.service.tls.certificateArn }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{- define "failover-agent.checkPort" -}}
{{- if .Values.ingress.enabled }}{{ if eq .Values.ingress.protocol "HTTPS" }}443{{ else }}80{{ end }}
{{- else if .Values.service.tls.certificateArn }}{{ .Values.service.tls.port }}
{{- else }}{{ .Values.service.port }}{{ end }}
{{- end }}

{{/*
Whether checks require "HEALTHY <app>" (env MATCH_VERDICT): "auto" is on with the
Ingress option (a shared ALB can answer with a redirect or another backend's 200).
*/}}
{{- define "failover-agent.matchVerdict" -}}
{{- $m := .Values.route53.matchVerdict | toString }}
{{- if eq $m "auto" }}{{ .Values.ingress.enabled | toString }}{{ else }}{{ $m }}{{ end }}
{{- end }}

{{/*
The Ingress rule's host: ingress.host, else route53.publicHostname.
*/}}
{{- define "failover-agent.ingressHost" -}}
{{- default .Values.route53.publicHostname .Values.ingress.host }}
{{- end }}

{{/*
The operator's settings file (settings.yaml in the ConfigMap "<fullname>-settings"):
route53Policy (always written: no zones means deny all), then aws, probeConcurrency,
probeTargets and limits when set, and publicListener (from the values publicListener,
service.clientIp and ingress.sourceRanges). The agent validates it at start-up (exit 64 naming the key).
*/}}
{{- define "failover-agent.settings" -}}
{{- $s := dict "route53Policy" (.Values.settings.route53Policy | default (dict "zones" (list))) }}
{{- with .Values.settings.aws }}{{ $_ := set $s "aws" . }}{{ end }}
{{- if not (kindIs "invalid" .Values.settings.probeConcurrency) }}{{ $_ := set $s "probeConcurrency" .Values.settings.probeConcurrency }}{{ end }}
{{- $l := dict "maxConnectionsPerClient" .Values.publicListener.maxConnectionsPerClient "maxConnections" .Values.publicListener.maxConnections }}
{{- with .Values.publicListener.trustedProxies }}{{ $_ := set $l "trustedProxies" . }}{{ end }}
{{- if and (eq .Values.service.type "LoadBalancer") (eq .Values.service.clientIp "proxyProtocol") }}{{ $_ := set $l "proxyProtocol" true }}{{ end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.sourceRanges.any) }}
{{- $_ := set $l "allowFrom" (include "failover-agent.sourceRanges" (list . .Values.ingress.sourceRanges) | fromYamlArray) }}
{{- end }}
{{- $_ := set $s "publicListener" $l }}
{{- with .Values.settings.probeTargets }}{{ $_ := set $s "probeTargets" . }}{{ end }}
{{- with .Values.settings.limits }}{{ $_ := set $s "limits" . }}{{ end }}
{{- toYaml $s }}
{{- end }}

{{/*
The CIDRs a sourceRanges block (service.sourceRanges or ingress.sourceRanges)
admits, as a YAML list: Route 53's checker ranges when route53 is true (IPv6 too
with ipv6), then extra. Called with (list $ block).
*/}}
{{- define "failover-agent.sourceRanges" -}}
{{- $root := index . 0 }}{{- $b := index . 1 }}
{{- $out := list }}
{{- if $b.route53 }}
{{- $out = concat $out $root.Values.route53HealthCheckers.ipv4 }}
{{- if $b.ipv6 }}{{ $out = concat $out $root.Values.route53HealthCheckers.ipv6 }}{{ end }}
{{- end }}
{{- $out = concat $out ($b.extra | default list) }}
{{- if not $out }}
{{- fail "sourceRanges: route53 is false and extra is empty, so no one could reach the agents; list CIDRs in extra or set any: true" }}
{{- end }}
{{- toYaml $out }}
{{- end }}

{{/*
Where the settings file is mounted in the agent container.
*/}}
{{- define "failover-agent.settingsDir" -}}
/etc/failover-agent
{{- end }}

{{/*
Fails the render on settings the agent would reject at start-up, and on settings
that would make the checks or a rollout fail every app.
*/}}
{{- define "failover-agent.validate" -}}
{{- range $k, $_ := .Values.settings }}
{{- if not (has $k (list "route53Policy" "aws" "probeConcurrency" "probeTargets" "limits")) }}
{{- fail (printf "settings.%s: the chart's settings take route53Policy, aws, probeConcurrency, probeTargets and limits; set the Region with aws.region and the Route 53 identity with route53.* (the listeners are the chart's own)" $k) }}
{{- end }}
{{- end }}
{{- if hasKey .Values.service "loadBalancerSourceRanges" }}
{{- fail "service.loadBalancerSourceRanges was replaced by service.sourceRanges: Route 53's checker ranges are admitted by default (route53: true); put your own CIDRs in service.sourceRanges.extra" }}
{{- end }}
{{- if not (has .Values.service.clientIp (list "preserve" "proxyProtocol")) }}
{{- fail (printf "service.clientIp must be preserve or proxyProtocol, not %q" .Values.service.clientIp) }}
{{- end }}
{{- if and .Values.ingress.enabled (empty .Values.publicListener.trustedProxies) }}
{{- fail "ingress.enabled needs publicListener.trustedProxies: the ALB's subnets (e.g. your VPC CIDR), so the agent counts and admits the clients named in X-Forwarded-For, not the ALB's own addresses" }}
{{- end }}
{{- if ne (empty .Values.route53.clusterId) (empty .Values.route53.publicHostname) }}
{{- fail "route53.clusterId and route53.publicHostname turn Route 53 management on together: set both or neither" }}
{{- end }}
{{- if not (has .Values.logFormat (list "json" "text")) }}
{{- fail (printf "logFormat must be json or text, not %q" .Values.logFormat) }}
{{- end }}
{{- if not (has .Values.service.type (list "ClusterIP" "LoadBalancer" "NodePort")) }}
{{- fail (printf "service.type must be ClusterIP, LoadBalancer or NodePort, not %q" .Values.service.type) }}
{{- end }}
{{- if and .Values.ingress.enabled (eq .Values.service.type "LoadBalancer") }}
{{- fail "ingress.enabled and service.type=LoadBalancer: choose one way for Route 53's checkers to reach the agents (the checks follow that one's listener)" }}
{{- end }}
{{- if and .Values.service.tls.certificateArn (ne .Values.service.type "LoadBalancer") }}
{{- fail "service.tls.certificateArn needs service.type=LoadBalancer (the NLB ends TLS); with the Ingress option set ingress.protocol=HTTPS" }}
{{- end }}
{{- if not (has .Values.ingress.protocol (list "HTTP" "HTTPS")) }}
{{- fail (printf "ingress.protocol must be HTTPS or HTTP, not %q" .Values.ingress.protocol) }}
{{- end }}
{{- if and .Values.ingress.enabled (hasKey .Values.ingress.annotations "alb.ingress.kubernetes.io/listen-ports") }}
{{- fail "ingress.annotations: do not set alb.ingress.kubernetes.io/listen-ports; set ingress.protocol (HTTPS or HTTP) so the checks follow the listener" }}
{{- end }}
{{- if and .Values.ingress.enabled (not (include "failover-agent.ingressHost" .)) (not .Values.ingress.allowAnyHost) }}
{{- fail "ingress.host is empty: a /health/ rule with no host matches every host on the shared ALB; set route53.publicHostname (the default host) or ingress.host, or ingress.allowAnyHost=true" }}
{{- end }}
{{- if not (has (.Values.route53.matchVerdict | toString) (list "auto" "true" "false")) }}
{{- fail (printf "route53.matchVerdict must be auto, true or false, not %q" (.Values.route53.matchVerdict | toString)) }}
{{- end }}
{{- if le (int .Values.preStopSleepSeconds) (int .Values.deregistrationDelaySeconds) }}
{{- fail (printf "preStopSleepSeconds (%d) must be more than deregistrationDelaySeconds (%d): the load balancer keeps sending checks to a deregistered agent until the delay ends" (int .Values.preStopSleepSeconds) (int .Values.deregistrationDelaySeconds)) }}
{{- end }}
{{- if le (int .Values.terminationGracePeriodSeconds) (add (int .Values.preStopSleepSeconds) 5) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be more than preStopSleepSeconds + 5 (%d): the agent drains for 5 s after the sleep" (int .Values.terminationGracePeriodSeconds) (add (int .Values.preStopSleepSeconds) 5)) }}
{{- end }}
{{- end }}
