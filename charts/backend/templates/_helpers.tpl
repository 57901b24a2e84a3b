{{- define "bindery-backend.labels" -}}
app.kubernetes.io/name: bindery-backend
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: bindery
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
{{- end }}

{{- define "bindery-backend.selector" -}}
app.kubernetes.io/name: bindery-backend
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
