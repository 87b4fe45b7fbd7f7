{{/* vim: set filetype=mustache: */}}
{{/*
Expand the name of the chart.
*/}}
{{- define "psd2-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name, truncated at 63 characters (DNS label limit).
*/}}
{{- define "psd2-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Chart name and version as used by the chart label.
*/}}
{{- define "psd2-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Common labels.
*/}}
{{- define "psd2-gateway.labels" -}}
helm.sh/chart: {{ include "psd2-gateway.chart" . }}
{{ include "psd2-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: psd2-gateway
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- if .Values.commonLabels }}
{{ toYaml .Values.commonLabels }}
{{- end }}
{{- end -}}

{{/*
Selector labels.
*/}}
{{- define "psd2-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "psd2-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
Container image: repository:tag, pinned by digest when one is given.
*/}}
{{- define "psd2-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Store URL for PSD2GW_STORE__URL. The password is not in the manifest: Kubernetes expands
$(REDIS_PASSWORD) from the env var of that name, which comes from redis.existingSecret.
*/}}
{{- define "psd2-gateway.storeUrl" -}}
{{- $redis := .Values.redis -}}
{{- if not $redis.host -}}
memory://
{{- else -}}
{{- $auth := "" -}}
{{- if $redis.existingSecret -}}
{{- $auth = printf "%s:$(REDIS_PASSWORD)@" $redis.username -}}
{{- else if $redis.username -}}
{{- $auth = printf "%s@" $redis.username -}}
{{- end -}}
{{- printf "%s://%s%s:%v/%v" $redis.scheme $auth $redis.host $redis.port $redis.db -}}
{{- end -}}
{{- end -}}

{{/*
Policy directory: the chart's or an existing ConfigMap, else the set shipped in the image.
*/}}
{{- define "psd2-gateway.policiesConfigMap" -}}
{{- if .Values.policies.existingConfigMap -}}
{{- .Values.policies.existingConfigMap -}}
{{- else if .Values.policies.files -}}
{{- printf "%s-policies" (include "psd2-gateway.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
Fail early, with the value to fix, on combinations the schema cannot express.
*/}}
{{- define "psd2-gateway.validate" -}}
{{- if not .Values.settings.upstream.url -}}
{{- fail "settings.upstream.url is required: the base URL of the bank core" -}}
{{- end -}}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) -}}
{{- fail "tls.existingSecret is required: a kubernetes.io/tls Secret with the gateway's certificate and key" -}}
{{- end -}}
{{- if not (or .Values.trust.existingSecret .Values.trust.existingConfigMap) -}}
{{- fail "trust.existingSecret or trust.existingConfigMap is required: the QTSP CA bundle for TPP QWACs" -}}
{{- end -}}
{{- if and .Values.trust.existingSecret .Values.trust.existingConfigMap -}}
{{- fail "set only one of trust.existingSecret and trust.existingConfigMap" -}}
{{- end -}}
{{- if and .Values.registry.existingSecret .Values.registry.existingConfigMap -}}
{{- fail "set only one of registry.existingSecret and registry.existingConfigMap" -}}
{{- end -}}
{{- if and .Values.policies.existingConfigMap .Values.policies.files -}}
{{- fail "set only one of policies.existingConfigMap and policies.files" -}}
{{- end -}}
{{- if and .Values.identityJwt.enabled (not .Values.identityJwt.existingSecret) -}}
{{- fail "identityJwt.existingSecret is required when identityJwt.enabled is true" -}}
{{- end -}}
{{- if le (int .Values.terminationGracePeriodSeconds) (add .Values.lifecycle.preStopSleepSeconds .Values.lifecycle.drainTimeoutSeconds) -}}
{{- fail "terminationGracePeriodSeconds must exceed lifecycle.preStopSleepSeconds + lifecycle.drainTimeoutSeconds" -}}
{{- end -}}
{{- end -}}
