{{/*
Shared snippets. Values carry every decision (images, configuration files, addresses);
these only give them a shape. Nothing here may read the clock, randomness or the cluster.
*/}}

{{/*
addons.metadata: name, namespace (kube-system unless "clusterScoped") and labels of an
object of an addon. kubeseed.io/addon is what pruning selects on: every object of the chart
must carry it (pkg/addons.Render refuses an object without it, or of a kind missing from
pkg/addons.PruneKinds). Call with (dict "addon" "kube-proxy" "name" "kube-proxy") or add
"clusterScoped" true.
*/}}
{{- define "addons.metadata" -}}
name: {{ .name | quote }}
{{- if not (hasKey . "clusterScoped") }}
namespace: kube-system
{{- end }}
labels:
  {{- include "addons.labels" .addon | nindent 2 }}
{{- end -}}

{{/*
addons.labels: the labels of every object of an addon; call with the addon's name.
*/}}
{{- define "addons.labels" -}}
app.kubernetes.io/managed-by: kubeseed
kubeseed.io/addon: {{ . }}
{{- end -}}
