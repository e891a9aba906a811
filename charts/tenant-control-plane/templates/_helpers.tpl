{{/*
Shared snippets. Values carry every decision (flags, images, mounts, resources); these only
give them a shape. Nothing here may read the clock, randomness or the cluster.
*/}}

{{/*
tcp.checkNamespace fails the render when the release namespace is not the one the values
were computed for: flags and DNS names in the values embed it.
*/}}
{{- define "tcp.checkNamespace" -}}
{{- if ne .Values.namespace .Release.Namespace -}}
{{- fail (printf "values were computed for namespace %q, not the release namespace %q" .Values.namespace .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{/*
tcp.labels: the labels of every object of a component, and its pod selector.
Call with (dict "root" $ "component" "etcd").
*/}}
{{- define "tcp.labels" -}}
app.kubernetes.io/part-of: kubeseed
kubeseed.io/tenant-cluster: {{ .root.Values.name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
tcp.tenantLabels select every pod of the tenant, whatever its component.
*/}}
{{- define "tcp.tenantLabels" -}}
app.kubernetes.io/part-of: kubeseed
kubeseed.io/tenant-cluster: {{ .Values.name }}
{{- end -}}

{{/*
tcp.metadata: name, namespace and labels of an object.
Call with (dict "root" $ "component" "etcd" "name" "acme-etcd").
*/}}
{{- define "tcp.metadata" -}}
name: {{ .name }}
namespace: {{ .root.Release.Namespace }}
labels:
  {{- include "tcp.labels" . | nindent 2 }}
{{- end -}}

{{/*
tcp.podSpec: what every control-plane pod shares. Call with (dict "root" $ "component"
"kube-apiserver" "spreadByRevision" true). spreadByRevision spreads the pods of
one Deployment revision, so a rollout does not pile the new pods where the old ones leave.
"serviceAccountName" gives the pod that service account and its token: only a pod that
talks to the seed's API (the autoscaler) may have one.
*/}}
{{- define "tcp.podSpec" -}}
{{- with .root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with get . "serviceAccountName" }}
serviceAccountName: {{ . }}
automountServiceAccountToken: true
{{- else }}
# Nothing in this pod talks to the seed's API.
automountServiceAccountToken: false
{{- end }}
enableServiceLinks: false
securityContext:
  # A numeric runAsUser satisfies runAsNonRoot without an /etc/passwd in the image.
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  # Secret files and etcd's volume become group-readable by 65532.
  fsGroup: 65532
  fsGroupChangePolicy: OnRootMismatch
  seccompProfile:
    type: RuntimeDefault
affinity:
  podAntiAffinity:
    {{- if eq .root.Values.spread "required" }}
    # Never two replicas on a node: losing a node loses one. Within a revision only, so a
    # rollout's surge pod may join the node of a pod it replaces.
    requiredDuringSchedulingIgnoredDuringExecution:
      - topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "tcp.labels" . | nindent 12 }}
        {{- if .spreadByRevision }}
        matchLabelKeys:
          - pod-template-hash
        {{- end }}
    {{- else }}
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "tcp.labels" . | nindent 14 }}
    {{- end }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "tcp.labels" . | nindent 8 }}
    {{- if .spreadByRevision }}
    matchLabelKeys:
      - pod-template-hash
    {{- end }}
{{- end -}}

{{/*
tcp.containerSecurityContext: the same for every container.
*/}}
{{- define "tcp.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end -}}

{{/*
tcp.secretVolumes: one volume per Secret in the component's values, projecting only the
listed keys. Call with the component's values.
*/}}
{{- define "tcp.secretVolumes" -}}
{{- range .secrets }}
- name: {{ .volume }}
  secret:
    secretName: {{ .secretName }}
    defaultMode: 288 # 0440: owner and fsGroup read
    {{- with .keys }}
    items:
      {{- range . }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
    {{- end }}
{{- end }}
{{- end -}}

{{/*
tcp.secretMounts: the matching read-only mounts.
*/}}
{{- define "tcp.secretMounts" -}}
{{- range .secrets }}
- name: {{ .volume }}
  mountPath: {{ .mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{/*
tcp.httpsProbe: an HTTPS GET on the container's "https" port.
Call with (dict "path" "/livez" "period" 10 "timeout" 15 "failures" 8).
*/}}
{{- define "tcp.httpsProbe" -}}
httpGet:
  scheme: HTTPS
  port: https
  path: {{ .path }}
periodSeconds: {{ .period }}
timeoutSeconds: {{ .timeout }}
failureThreshold: {{ .failures }}
{{- end -}}

{{/*
tcp.httpProbe: a plain HTTP GET on the container's "metrics" port (the autoscaler's).
Call with (dict "path" "/healthz" "period" 10 "timeout" 5 "failures" 6).
*/}}
{{- define "tcp.httpProbe" -}}
httpGet:
  port: metrics
  path: {{ .path }}
periodSeconds: {{ .period }}
timeoutSeconds: {{ .timeout }}
failureThreshold: {{ .failures }}
{{- end -}}

{{/*
tcp.etcdInitialCluster: "name=peer URL" of members 0 to initialClusterMembers-1 under the
headless Service. The members are the StatefulSet's pods, so their names follow from the
count; pkg/controlplane.EtcdPeerURL must agree.
*/}}
{{- define "tcp.etcdInitialCluster" -}}
{{- $sts := printf "%s-etcd" .Values.name -}}
{{- $members := list -}}
{{- range $i := until (int .Values.etcd.initialClusterMembers) -}}
{{- $members = append $members (printf "%s-%d=https://%s-%d.%s.%s.svc:%d" $sts $i $sts $i $sts $.Release.Namespace (int $.Values.etcd.peerPort)) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}

{{/*
tcp.auditPolicy: the kube-apiserver's audit policy. Metadata (who, what, which object, the
answer's code) for every request, never a body: Secrets, tokens and kubeconfigs must not
land in the seed's log. Health probes, lease renewals, kube-proxy's watches and events are
left out: frequent, and no one's action.
*/}}
{{- define "tcp.auditPolicy" -}}
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/livez*", "/readyz*", "/version"]
  - level: None
    resources: [{group: coordination.k8s.io, resources: [leases]}]
    verbs: [get, update, watch]
  - level: None
    users: ["system:kube-proxy"]
    verbs: [watch]
  - level: None
    resources: [{group: "", resources: [events]}, {group: events.k8s.io, resources: [events]}]
  - level: Metadata
{{- end -}}
