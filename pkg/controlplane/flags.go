package controlplane

import (
	"maps"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

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
	leaf := func(s Secret) SecretMount { return m(s, TLSCertKey, TLSKeyKey) }
	withCA := func(s Secret) SecretMount { return m(s, CACertKey, TLSCertKey, TLSKeyKey) }
	return map[Component][]SecretMount{
		Etcd: {withCA(EtcdServerSecret), withCA(EtcdPeerSecret)},
		APIServer: {
			caCert(), frontProxyCACert(),
			leaf(APIServerTLSSecret), leaf(APIServerKubeletClientSecret), withCA(APIServerEtcdClientSecret),
			leaf(FrontProxyClientSecret), m(ServiceAccountSecret, TLSCertKey, TLSKeyKey),
		},
		// The controller-manager signs node certificates, so it alone gets the CA key.
		ControllerManager: {
			m(CASecret, TLSCertKey, TLSKeyKey), frontProxyCACert(), m(ServiceAccountSecret, TLSKeyKey),
			m(ControllerManagerKubeconfigSecret, KubeconfigKey),
		},
		Scheduler: {caCert(), frontProxyCACert(), m(SchedulerKubeconfigSecret, KubeconfigKey)},
	}
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

// protectedFlags would break the wiring if overridden: files the chart mounts, ports its
// Services, probes and NetworkPolicies use, the immutable network, and what kubeseed itself
// maintains. The API promises the controller refuses them.
var protectedFlags = map[Component][]string{
	APIServer: {
		"secure-port", "bind-address", "etcd-servers", "etcd-cafile", "etcd-certfile", "etcd-keyfile",
		"client-ca-file", "tls-cert-file", "tls-private-key-file",
		"kubelet-client-certificate", "kubelet-client-key",
		"service-account-key-file", "service-account-signing-key-file",
		"proxy-client-cert-file", "proxy-client-key-file", "requestheader-client-ca-file",
		"service-cluster-ip-range", "endpoint-reconciler-type", "advertise-address",
		"egress-selector-config-file",
	},
	ControllerManager: {
		"secure-port", "bind-address", "kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig",
		"client-ca-file", "requestheader-client-ca-file", "root-ca-file",
		"cluster-signing-cert-file", "cluster-signing-key-file", "service-account-private-key-file",
		"cluster-cidr", "service-cluster-ip-range", "flex-volume-plugin-dir",
	},
	Scheduler: {
		"secure-port", "bind-address", "kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig",
		"client-ca-file", "requestheader-client-ca-file",
	},
}

var flagName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// withExtraArgs lays the spec's extraArgs over the defaults, by flag name (a leading "--"
// is tolerated), and renders the sorted command line.
func withExtraArgs(c Component, defaults flags, extra map[string]string) ([]string, error) {
	field := specPath(c) + ".extraArgs"
	merged := maps.Clone(defaults)
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
		if slices.Contains(protectedFlags[c], name) {
			return nil, invalid(field, "--%s is set by kubeseed and may not be overridden", name)
		}
		merged[name] = extra[key]
	}
	return merged.args(), nil
}
