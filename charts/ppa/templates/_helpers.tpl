{{/*
Helpers shared by the templates. A "component" argument is one of
controller, scaler, runtime, training.
*/}}

{{/* ppa.name is the chart name, or nameOverride. */}}
{{- define "ppa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ppa.fullname is the prefix of object names: RELEASE-NAME, or RELEASE when it already contains NAME. */}}
{{- define "ppa.fullname" -}}
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

{{/* ppa.componentName: (dict "ctx" $ "component" "scaler") -> RELEASE-ppa-scaler. */}}
{{- define "ppa.componentName" -}}
{{- printf "%s-%s" (include "ppa.fullname" .ctx | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{/* ppa.chart is NAME-VERSION for the helm.sh/chart label. */}}
{{- define "ppa.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* ppa.selectorLabels: (dict "ctx" $ "component" C), the immutable selector of a component. */}}
{{- define "ppa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ppa.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* ppa.labels: (dict "ctx" $ "component" C), the labels of every object of a component. */}}
{{- define "ppa.labels" -}}
helm.sh/chart: {{ include "ppa.chart" .ctx }}
{{ include "ppa.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: ppa
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* ppa.image: (dict "ctx" $ "image" .Values.X.image) -> REPOSITORY:TAG, the tag defaulting to appVersion. */}}
{{- define "ppa.image" -}}
{{- printf "%s:%s" .image.repository (default .ctx.Chart.AppVersion .image.tag) -}}
{{- end -}}

{{/* ppa.storeURI is the store URI from store.uri or store.s3 (empty: no default store). */}}
{{- define "ppa.storeURI" -}}
{{- $s := .Values.store -}}
{{- if $s.uri -}}
{{- $s.uri -}}
{{- else if $s.s3.bucket -}}
{{- $q := list -}}
{{- with $s.s3.endpoint }}{{ $q = append $q (printf "endpoint=%s" (urlquery .)) }}{{ end -}}
{{- with $s.s3.region }}{{ $q = append $q (printf "region=%s" (urlquery .)) }}{{ end -}}
{{- if $s.s3.insecure }}{{ $q = append $q "insecure=true" }}{{ end -}}
{{- $path := $s.s3.bucket -}}
{{- with trimAll "/" $s.s3.prefix }}{{ $path = printf "%s/%s" $path . }}{{ end -}}
{{- printf "s3://%s" $path -}}
{{- if $q }}?{{ join "&" $q }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* ppa.storeSecretName is the store credentials Secret's name (empty: none). */}}
{{- define "ppa.storeSecretName" -}}
{{- $c := .Values.store.credentials -}}
{{- if $c.secretName -}}
{{- $c.secretName -}}
{{- else if $c.create -}}
{{- include "ppa.componentName" (dict "ctx" . "component" "store") -}}
{{- end -}}
{{- end -}}

{{/* ppa.serviceAccountName: (dict "ctx" $ "component" C "sa" .Values.C.serviceAccount). */}}
{{- define "ppa.serviceAccountName" -}}
{{- if .sa.name -}}
{{- .sa.name -}}
{{- else if .sa.create -}}
{{- include "ppa.componentName" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{/* ppa.workflowServiceAccountName is the training pods' ServiceAccount. */}}
{{- define "ppa.workflowServiceAccountName" -}}
{{- include "ppa.serviceAccountName" (dict "ctx" . "component" "workflow" "sa" .Values.training.serviceAccount) -}}
{{- end -}}
