package controlplane

import (
	"maps"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The audit log: files of auditLogMaxSizeMB, auditLogMaxBackups of them kept besides the
// current one, in an emptyDir of auditVolumeSizeLimit (room for all of them and the file
// being rotated, so the kubelet never evicts the apiserver for it).
const (
	auditPolicyDir     = "/etc/kubernetes/audit"
	auditPolicyKey     = "policy.yaml"
	auditLogDir        = "/var/log/kubernetes/audit"
	auditLogMaxSizeMB  = 20
	auditLogMaxBackups = 2
)

func auditVolumeSizeLimit() resource.Quantity {
	return *resource.NewQuantity(int64(auditLogMaxSizeMB*(auditLogMaxBackups+2))<<20, resource.BinarySI)
}

// flags is a command line by flag name; args renders it sorted, so the same inputs always
// give the same pod template.
type flags map[string]string

func (f flags) args() []string {
	out := make([]string, 0, len(f))
	for _, name := range slices.Sorted(maps.Keys(f)) {
		out = append(out, "--"+name+"="+f[name])
	}
	return out
}

// secretFile is where key of Secret s appears in a container that mounts s.
func secretFile(s Secret, key string) string { return path.Join(mountPath(s), key) }

func mountPath(s Secret) string {
	switch s {
	case ControllerManagerKubeconfigSecret, SchedulerKubeconfigSecret:
		return kubeconfigDir
	default:
		return path.Join(pkiDir, string(s))
	}
}

// secretMounts lists, per component, the Secrets it mounts and which of their keys: exactly
// the files its flags below refer to.
func secretMounts(cluster string) map[Component][]SecretMount {
	m := func(s Secret, keys ...string) SecretMount {
		return SecretMount{Volume: string(s), SecretName: s.Name(cluster), MountPath: mountPath(s), Keys: keys}
	}
	caCert := func() SecretMount { return m(CASecret, TLSCertKey) }
	frontProxyCACert := func() SecretMount { return m(FrontProxyCASecret, TLSCertKey) }
	// Renewed leaves are read again without a restart (docs/operations.md#certificates):
	// etcd loads its serving, peer and client pairs on each handshake (client/pkg
	// transport.TLSInfo, which the apiserver's etcd client uses too); the apiserver
	// watches its serving and front-proxy pairs (dynamiccertificates) and its kubelet
	// client pair (client-go ReloadTLSFiles); the autoscaler's kubeconfig names its pair's
	// files. The controllers' kubeconfigs embed theirs, so a renewal rolls them (their
	// clients are the apiserver's, not the tenant's users).
	leaf := func(s Secret) SecretMount { sm := m(s, TLSCertKey, TLSKeyKey); sm.Reloads = true; return sm }
	withCA := func(s Secret) SecretMount {
		sm := m(s, CACertKey, TLSCertKey, TLSKeyKey)
		sm.Reloads = true
		return sm
	}
	return map[Component][]SecretMount{
		Etcd: {withCA(EtcdServerSecret), withCA(EtcdPeerSecret)},
		APIServer: {
			caCert(), frontProxyCACert(),
			leaf(APIServerTLSSecret), leaf(APIServerKubeletClientSecret), withCA(APIServerEtcdClientSecret),
			leaf(FrontProxyClientSecret), m(ServiceAccountSecret, TLSCertKey, TLSKeyKey),
			m(EncryptionConfigSecret, EncryptionConfigKey),
		},
		// The controller-manager signs node certificates, so it alone gets the CA key.
		ControllerManager: {
			m(CASecret, TLSCertKey, TLSKeyKey), frontProxyCACert(), m(ServiceAccountSecret, TLSKeyKey),
			m(ControllerManagerKubeconfigSecret, KubeconfigKey),
		},
		Scheduler: {caCert(), frontProxyCACert(), m(SchedulerKubeconfigSecret, KubeconfigKey)},
		// The CA verifies the apiserver; the pair is the autoscaler's tenant identity.
		Autoscaler: {withCA(AutoscalerClientSecret)},
	}
}

// SecretsMissing names the Secrets component c of cluster mounts that secrets lacks, or
// lacks a mounted key of: what its first pod would wait for.
func SecretsMissing(cluster string, c Component, secrets map[string]*corev1.Secret) []string {
	var missing []string
	for _, m := range secretMounts(cluster)[c] {
		s := secrets[m.SecretName]
		ok := s != nil
		for _, k := range m.Keys {
			ok = ok && len(s.Data[k]) > 0
		}
		if !ok {
			missing = append(missing, m.SecretName)
		}
	}
	return missing
}

// etcdFlags are the flags every member shares. $(POD_NAME) is expanded by the kubelet from
// the container's environment. The membership (initial-cluster and initial-cluster-state)
// is not among them: it comes from the chart's ConfigMap as ETCD_* variables, so that it can
// change without rolling the members, and etcd refuses a flag given both ways.
func etcdFlags(cluster, namespace string, storage resource.Quantity) flags {
	member := "$(POD_NAME)." + Etcd.ObjectName(cluster) + "." + namespace + ".svc"
	return flags{
		"name":                           "$(POD_NAME)",
		"data-dir":                       etcdDataDir,
		"listen-client-urls":             "https://0.0.0.0:" + port(EtcdClientPort),
		"advertise-client-urls":          "https://" + member + ":" + port(EtcdClientPort),
		"listen-peer-urls":               "https://0.0.0.0:" + port(EtcdPeerPort),
		"initial-advertise-peer-urls":    "https://" + member + ":" + port(EtcdPeerPort),
		"listen-metrics-urls":            "http://0.0.0.0:" + port(EtcdMetricsPort),
		"initial-cluster-token":          namespace + "/" + cluster,
		"client-cert-auth":               "true",
		"cert-file":                      secretFile(EtcdServerSecret, TLSCertKey),
		"key-file":                       secretFile(EtcdServerSecret, TLSKeyKey),
		"trusted-ca-file":                secretFile(EtcdServerSecret, CACertKey),
		"peer-client-cert-auth":          "true",
		"peer-cert-file":                 secretFile(EtcdPeerSecret, TLSCertKey),
		"peer-key-file":                  secretFile(EtcdPeerSecret, TLSKeyKey),
		"peer-trusted-ca-file":           secretFile(EtcdPeerSecret, CACertKey),
		"quota-backend-bytes":            strconv.FormatInt(etcdQuotaBytes(storage), 10),
		"auto-compaction-mode":           "periodic",
		"auto-compaction-retention":      "1h",
		"feature-gates":                  "InitialCorruptCheck=true",
		"watch-progress-notify-interval": "5s",
	}
}

const (
	etcdWALReserve = 512 << 20 // WAL segments (64 MiB each, 5 kept) and snapshot files
	etcdMaxQuota   = 8 << 30   // etcd's documented upper bound for the backend
)

// etcdQuotaBytes sizes the backend so the volume never fills before etcd raises its
// NOSPACE alarm: a defragmentation writes a second copy of the database, so the quota is
// half of what the WAL leaves, capped at etcd's recommended maximum. An 8Gi volume gets
// 3.75 GiB, the 1Gi minimum 256 MiB.
func etcdQuotaBytes(storage resource.Quantity) int64 {
	return min((storage.Value()-etcdWALReserve)/2, etcdMaxQuota)
}

// apiServerFlags follow kubeadm's defaults, rewired for a pod behind a Service.
func apiServerFlags(cluster, namespace string, nw network, endpointHost string) flags {
	f := flags{
		"secure-port":                     port(APIServerPort),
		"allow-privileged":                "true",
		"authorization-mode":              "Node,RBAC",
		"enable-admission-plugins":        "NodeRestriction",
		"enable-bootstrap-token-auth":     "true",
		"service-cluster-ip-range":        nw.serviceCIDR.String(),
		"kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
		// The tenant's `kubernetes` Service must point at the published endpoint, which
		// kubeseed maintains; replicas behind a Service must not write their pod IPs there.
		"endpoint-reconciler-type": "none",
		// Keep serving while kube-proxy removes a terminating replica from the Service.
		"shutdown-delay-duration": "5s",

		"etcd-servers":  "https://" + EtcdClientHost(cluster, namespace) + ":" + port(EtcdClientPort),
		"etcd-cafile":   secretFile(APIServerEtcdClientSecret, CACertKey),
		"etcd-certfile": secretFile(APIServerEtcdClientSecret, TLSCertKey),
		"etcd-keyfile":  secretFile(APIServerEtcdClientSecret, TLSKeyKey),

		"client-ca-file":             secretFile(CASecret, TLSCertKey),
		"tls-cert-file":              secretFile(APIServerTLSSecret, TLSCertKey),
		"tls-private-key-file":       secretFile(APIServerTLSSecret, TLSKeyKey),
		"kubelet-client-certificate": secretFile(APIServerKubeletClientSecret, TLSCertKey),
		"kubelet-client-key":         secretFile(APIServerKubeletClientSecret, TLSKeyKey),
		// Kubelets serve with certificates of the tenant CA (kubeseed approves their CSRs
		// against the Node): logs, exec and port-forward reach the node they name or fail.
		"kubelet-certificate-authority": secretFile(CASecret, TLSCertKey),

		// The issuer must never change (tokens would stop verifying), so it cannot be the
		// endpoint, which is not known at first; kubeadm's in-cluster URL it is.
		"service-account-issuer":           "https://kubernetes.default.svc." + nw.dnsDomain,
		"service-account-key-file":         secretFile(ServiceAccountSecret, TLSCertKey),
		"service-account-signing-key-file": secretFile(ServiceAccountSecret, TLSKeyKey),

		"proxy-client-cert-file":             secretFile(FrontProxyClientSecret, TLSCertKey),
		"proxy-client-key-file":              secretFile(FrontProxyClientSecret, TLSKeyKey),
		"requestheader-client-ca-file":       secretFile(FrontProxyCASecret, TLSCertKey),
		"requestheader-allowed-names":        FrontProxyClientCommonName,
		"requestheader-username-headers":     "X-Remote-User",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",

		// Secrets are encrypted in etcd with the tenant's own key; a key added to the file
		// (rotation) is picked up without a restart.
		"encryption-provider-config":                  secretFile(EncryptionConfigSecret, EncryptionConfigKey),
		"encryption-provider-config-automatic-reload": "true",

		// Who did what (the chart's policy: metadata, never bodies), kept on the seed.
		"audit-policy-file":   path.Join(auditPolicyDir, auditPolicyKey),
		"audit-log-path":      path.Join(auditLogDir, "audit.log"),
		"audit-log-maxsize":   strconv.Itoa(auditLogMaxSizeMB),
		"audit-log-maxbackup": strconv.Itoa(auditLogMaxBackups),
	}
	// --advertise-address takes an IP only; a DNS endpoint leaves the pod IP in its place.
	if ip, err := netip.ParseAddr(endpointHost); err == nil {
		f["advertise-address"] = ip.String()
	}
	return f
}

// controllerManagerFlags follow kubeadm's defaults.
func controllerManagerFlags(cluster string, nw network) flags {
	kubeconfig := secretFile(ControllerManagerKubeconfigSecret, KubeconfigKey)
	return flags{
		"kubeconfig":                       kubeconfig,
		"authentication-kubeconfig":        kubeconfig,
		"authorization-kubeconfig":         kubeconfig,
		"client-ca-file":                   secretFile(CASecret, TLSCertKey),
		"requestheader-client-ca-file":     secretFile(FrontProxyCASecret, TLSCertKey),
		"root-ca-file":                     secretFile(CASecret, TLSCertKey),
		"cluster-signing-cert-file":        secretFile(CASecret, TLSCertKey),
		"cluster-signing-key-file":         secretFile(CASecret, TLSKeyKey),
		"service-account-private-key-file": secretFile(ServiceAccountSecret, TLSKeyKey),
		"use-service-account-credentials":  "true",
		// bootstrapsigner and tokencleaner are off by default; kubeadm join needs them.
		"controllers":              "*,bootstrapsigner,tokencleaner",
		"leader-elect":             "true",
		"secure-port":              port(ControllerManagerPort),
		"cluster-name":             cluster,
		"allocate-node-cidrs":      "true",
		"cluster-cidr":             nw.podCIDR.String(),
		"service-cluster-ip-range": nw.serviceCIDR.String(),
		// The default, /usr/libexec/kubernetes/..., is created at start and the root
		// filesystem is read-only; /tmp is an emptyDir.
		"flex-volume-plugin-dir": "/tmp/flex",
	}
}

// schedulerFlags follow kubeadm's, plus the CA files that spare the scheduler reading them
// from a ConfigMap of an apiserver that may not answer yet.
func schedulerFlags() flags {
	kubeconfig := secretFile(SchedulerKubeconfigSecret, KubeconfigKey)
	return flags{
		"kubeconfig":                   kubeconfig,
		"authentication-kubeconfig":    kubeconfig,
		"authorization-kubeconfig":     kubeconfig,
		"client-ca-file":               secretFile(CASecret, TLSCertKey),
		"requestheader-client-ca-file": secretFile(FrontProxyCASecret, TLSCertKey),
		"leader-elect":                 "true",
		"secure-port":                  port(SchedulerPort),
	}
}

func port(p int32) string { return strconv.Itoa(int(p)) }

// allowedFlags are the only flags extraArgs may set, per component: tuning that can neither
// break kubeseed's wiring (files the chart mounts, ports, addresses, etcd, the network,
// authentication and authorization, what kubeseed maintains) nor reach out of the tenant
// (no file paths, no URLs the component would call). The CRD refuses every other flag at
// admission with the same lists, in the CEL rules on spec.controlPlane.<component>
// (TestCRDAllowsTheSameFlags keeps them equal); this check is the defence in depth behind
// it. docs/tenantcluster.md lists them for customers. None is a flag kubeseed sets itself,
// except those in appendedFlags.
var allowedFlags = map[Component][]string{
	APIServer: {
		"contention-profiling", "cors-allowed-origins",
		"default-not-ready-toleration-seconds", "default-unreachable-toleration-seconds",
		"delete-collection-workers", "enable-admission-plugins", "enable-priority-and-fairness",
		"event-ttl", "feature-gates", "goaway-chance", "http2-max-streams-per-connection",
		"kubelet-timeout", "logging-format", "max-mutating-requests-inflight", "max-requests-inflight",
		"min-request-timeout", "profiling", "request-timeout", "runtime-config",
		"service-account-extend-token-expiration", "service-account-max-token-expiration",
		"service-node-port-range", "v", "vmodule", "watch-cache", "watch-cache-sizes",
	},
	ControllerManager: {
		"attach-detach-reconcile-sync-period", "cluster-signing-duration",
		"concurrent-cron-job-syncs", "concurrent-daemonset-syncs", "concurrent-deployment-syncs",
		"concurrent-endpoint-syncs", "concurrent-ephemeralvolume-syncs", "concurrent-gc-syncs",
		"concurrent-horizontal-pod-autoscaler-syncs", "concurrent-job-syncs", "concurrent-namespace-syncs",
		"concurrent-rc-syncs", "concurrent-replicaset-syncs", "concurrent-resource-quota-syncs",
		"concurrent-service-endpoint-syncs", "concurrent-serviceaccount-token-syncs",
		"concurrent-statefulset-syncs", "concurrent-ttl-after-finished-syncs",
		"concurrent-validating-admission-policy-status-syncs", "contention-profiling",
		"endpoint-updates-batch-period", "endpointslice-updates-batch-period", "feature-gates",
		"horizontal-pod-autoscaler-cpu-initialization-period", "horizontal-pod-autoscaler-downscale-stabilization",
		"horizontal-pod-autoscaler-initial-readiness-delay", "horizontal-pod-autoscaler-sync-period",
		"horizontal-pod-autoscaler-tolerance", "kube-api-burst", "kube-api-qps", "large-cluster-size-threshold",
		"leader-elect-lease-duration", "leader-elect-renew-deadline", "leader-elect-retry-period",
		"logging-format", "max-endpoints-per-slice", "min-resync-period",
		"node-cidr-mask-size", "node-cidr-mask-size-ipv4", "node-cidr-mask-size-ipv6",
		"node-eviction-rate", "node-monitor-grace-period", "node-monitor-period", "node-startup-grace-period",
		"profiling", "pvclaimbinder-sync-period", "resource-quota-sync-period", "secondary-node-eviction-rate",
		"terminated-pod-gc-threshold", "unhealthy-zone-threshold", "v", "vmodule",
	},
	Scheduler: {
		"contention-profiling", "feature-gates", "kube-api-burst", "kube-api-qps",
		"leader-elect-lease-duration", "leader-elect-renew-deadline", "leader-elect-retry-period",
		"logging-format", "profiling", "v", "vmodule",
	},
}

// appendedFlags are comma-separated lists kubeseed sets that extraArgs adds to instead of
// replacing: kubeseed's entries stay first and always present (NodeRestriction is what
// keeps a tenant's kubelets to their own node).
var appendedFlags = map[Component][]string{
	APIServer: {"enable-admission-plugins"},
}

var flagName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// withExtraArgs lays the spec's extraArgs over the defaults, by flag name (a leading "--"
// is tolerated), and renders the sorted command line. Only allowedFlags may be given; an
// appended flag adds its entries to kubeseed's.
func withExtraArgs(c Component, defaults, tuning flags, extra map[string]string) ([]string, error) {
	field := specPath(c) + ".extraArgs"
	merged := maps.Clone(defaults)
	maps.Copy(merged, tuning) // allowed flags, which extra overrides below
	seen := make(map[string]string, len(extra))
	for _, key := range slices.Sorted(maps.Keys(extra)) {
		name := strings.TrimPrefix(key, "--")
		if !flagName.MatchString(name) {
			return nil, invalid(field, "%q is not a flag name", key)
		}
		if other, dup := seen[name]; dup {
			return nil, invalid(field, "%q and %q set the same flag", other, key)
		}
		seen[name] = key
		if !slices.Contains(allowedFlags[c], name) {
			return nil, invalid(field, "--%s is not allowed; allowed flags are listed in docs/tenantcluster.md", name)
		}
		value := extra[key]
		if own, ok := defaults[name]; ok && slices.Contains(appendedFlags[c], name) {
			value = appendList(own, value)
		}
		merged[name] = value
	}
	return merged.args(), nil
}

// appendList adds the entries of extra that own lacks to own, in order.
func appendList(own, extra string) string {
	entries := strings.Split(own, ",")
	for _, e := range strings.Split(extra, ",") {
		if e = strings.TrimSpace(e); e != "" && !slices.Contains(entries, e) {
			entries = append(entries, e)
		}
	}
	return strings.Join(entries, ",")
}
