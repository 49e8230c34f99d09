{{/* Names. */}}
{{- define "kfn.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kfn.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kfn.operator.name" -}}{{ include "kfn.fullname" . }}-operator{{- end -}}
{{- define "kfn.gateway.name" -}}{{ include "kfn.fullname" . }}-gateway{{- end -}}
{{- define "kfn.gateway.podsService" -}}{{ include "kfn.fullname" . }}-gateway-pods{{- end -}}
{{- define "kfn.nats.name" -}}{{ include "kfn.fullname" . }}-nats{{- end -}}

{{/* The namespace whose Functions are served when the install is namespaced. */}}
{{- define "kfn.watchNamespace" -}}
{{- .Values.watch.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* Labels every object carries; "kfn.labels" takes (dict "root" $ "component" NAME). */}}
{{- define "kfn.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{ include "kfn.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: kfn
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* The labels a component's selectors use; stable across upgrades. */}}
{{- define "kfn.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kfn.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference: (dict "root" $ "image" .Values.X.image). */}}
{{- define "kfn.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .image.repository $tag -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for a pod and for each of its containers. */}}
{{- define "kfn.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ . }}
runAsGroup: {{ . }}
fsGroup: {{ . }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "kfn.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The in-cluster URL of the gateway Service. */}}
{{- define "kfn.gateway.serviceUrl" -}}
{{- $port := int .Values.gateway.service.port -}}
{{- if eq $port 80 -}}
{{- printf "http://%s.%s.svc" (include "kfn.gateway.name" .) .Release.Namespace -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%d" (include "kfn.gateway.name" .) .Release.Namespace $port -}}
{{- end -}}
{{- end -}}

{{/* The operator's and the gateway's RBAC rules, the same for a Role and a ClusterRole.
     tests/chart/test_rbac.py checks they are exactly what the code calls. */}}
{{- define "kfn.operator.rules" -}}
- apiGroups: [kfn.dev]
  resources: [functions]
  verbs: [get, list, watch, patch]
- apiGroups: [kfn.dev]
  resources: [functions/status, triggers/status]
  verbs: [patch]
- apiGroups: [kfn.dev]
  resources: [triggers]
  verbs: [list, watch, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}

{{- define "kfn.gateway.rules" -}}
- apiGroups: [kfn.dev]
  resources: [functions, triggers]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: [apps]
  resources: [deployments/scale]
  verbs: [get, patch]
# The Secrets auth: token Functions and SQS sources (credentialsSecret) name, read by name only:
# no list or watch, so the gateway cannot enumerate Secrets.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get]
{{- end -}}

{{/* extraEnv may not override what the chart sets: fail with the variable's name. */}}
{{- define "kfn.extraEnv" -}}
{{- $reserved := .reserved -}}
{{- range .env -}}
{{- if has .name $reserved -}}
{{- fail (printf "%s.extraEnv: %s is set by the chart; use its own value instead" $.component .name) -}}
{{- end }}
- name: {{ .name }}
  value: {{ .value | quote }}
{{- end -}}
{{- end -}}
