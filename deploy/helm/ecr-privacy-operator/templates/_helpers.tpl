{{/* The chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "ecr-privacy-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name of the release's resources. */}}
{{- define "ecr-privacy-operator.fullname" -}}
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

{{- define "ecr-privacy-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "ecr-privacy-operator.labels" -}}
helm.sh/chart: {{ include "ecr-privacy-operator.chart" . }}
{{ include "ecr-privacy-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ecr-privacy-operator
{{- end }}

{{/* Labels that select the operator pod. */}}
{{- define "ecr-privacy-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ecr-privacy-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ecr-privacy-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ecr-privacy-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ecr-privacy-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Namespaces where the operator reads workspace Secrets: credentials.secretNamespaces (default: the
watchNamespaces) plus the release namespace (ClusterGuardrailsWorkspace Secrets). One per line, sorted, unique. */}}
{{- define "ecr-privacy-operator.secretNamespaces" -}}
{{- $namespaces := .Values.credentials.secretNamespaces | default .Values.watchNamespaces | default list }}
{{- $namespaces = append $namespaces .Release.Namespace }}
{{- range $namespaces | uniq | sortAlpha }}
{{ . }}
{{- end }}
{{- end }}
