package seed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
)

func (l *Local) writeKubeconfigs() error {
	local := fmt.Sprintf("https://127.0.0.1:%d", apiserverPort)
	files := map[string]struct{ server, cert string }{
		"kubeconfig":                    {fmt.Sprintf("https://%s:%d", l.nodeIP, apiserverPort), "admin"},
		"controller-manager.kubeconfig": {local, "controller-manager"},
		"scheduler.kubeconfig":          {local, "scheduler"},
		"kubelet.kubeconfig":            {local, "kubelet-client"},
		"kube-proxy.kubeconfig":         {local, "kube-proxy"},
	}
	for file, kc := range files {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["seed"] = &clientcmdapi.Cluster{Server: kc.server, CertificateAuthority: l.path("pki", "ca.crt")}
		cfg.AuthInfos[kc.cert] = &clientcmdapi.AuthInfo{
			ClientCertificate: l.path("pki", kc.cert+".crt"),
			ClientKey:         l.path("pki", kc.cert+".key"),
		}
		cfg.Contexts["seed"] = &clientcmdapi.Context{Cluster: "seed", AuthInfo: kc.cert}
		cfg.CurrentContext = "seed"
		if err := clientcmd.WriteToFile(*cfg, l.path(file)); err != nil {
			return fmt.Errorf("write %s: %w", file, err)
		}
	}
	return nil
}

func (l *Local) clientset() (*kubernetes.Clientset, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", l.Kubeconfig())
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// seedCNIBinDir holds the seed's CNI plugins, Debian's containernetworking-plugins. Machines
// use /opt/cni/bin, private to each, where the tenant's CNI addon installs its own.
const seedCNIBinDir = "/usr/lib/cni"

// containerdConfig is the CRI configuration of the seed's and the machines' containerd:
// paths (top-level keys) and runc options vary, the rest must not.
// restrict_oom_score_adj: these machines lack CAP_SYS_RESOURCE, so the -998 containerd
// gives sandboxes cannot be set and every pod would fail to start.
func containerdConfig(paths, runcOptions, cniBinDir, cniConfDir string) string {
	return "version = 2\n" + paths + `[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "` + PauseImage + `"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        ` + runcOptions + `
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "` + cniBinDir + `"
    conf_dir = "` + cniConfDir + `"
`
}

func (l *Local) startContainerd(ctx context.Context) error {
	runc := l.path("run", "runc")
	config := containerdConfig(fmt.Sprintf(`root = %q
state = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
`, l.path("containerd", "root"), l.path("containerd", "state"), l.containerdSocket(), l.containerdSocket()+".ttrpc"),
		fmt.Sprintf("Root = %q", runc), seedCNIBinDir, l.path("cni", "net.d"))
	if err := os.MkdirAll(filepath.Dir(l.containerdSocket()), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(l.path("containerd", "config.toml"), []byte(config), 0o600); err != nil {
		return err
	}
	cni := map[string]any{
		"cniVersion": "0.4.0",
		"name":       "seed",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true,
				// Pods reach themselves through their own Service (etcd does).
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": seedNodePodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": l.path("cni", "networks"),
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	if err := writeJSON(l.path("cni", "net.d", "10-seed.conflist"), cni); err != nil {
		return err
	}
	if err := l.start("containerd", "/usr/bin/containerd", "--config", l.path("containerd", "config.toml")); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := run("ctr", "--address", l.containerdSocket(), "version"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("containerd does not answer on %s: %w", l.containerdSocket(), err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// loadSeedImages imports every image tarball built for the seed (make seed-images).
func (l *Local) loadSeedImages(ctx context.Context) error {
	tarballs, err := filepath.Glob(filepath.Join(ImagesDir(l.cache), "*.tar"))
	if err != nil {
		return err
	}
	if len(tarballs) == 0 {
		return fmt.Errorf("no images in %s: run `make seed-up`, which builds them", ImagesDir(l.cache))
	}
	return l.LoadImages(ctx, tarballs...)
}

func (l *Local) startKubelet(context.Context) error {
	pki := l.path("pki")
	cfg := kubeletv1beta1.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: filepath.Join(pki, "ca.crt")},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:            kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		CgroupDriver:             "cgroupfs", // no systemd on these machines
		ClusterDNS:               []string{seedDNSIP},
		ClusterDomain:            "cluster.local",
		ContainerRuntimeEndpoint: "unix://" + l.containerdSocket(),
		TLSCertFile:              filepath.Join(pki, "kubelet-server.crt"),
		TLSPrivateKeyFile:        filepath.Join(pki, "kubelet-server.key"),
		FailSwapOn:               ptr.To(false),
		FailCgroupV1:             ptr.To(false),
		OOMScoreAdj:              ptr.To[int32](0), // no CAP_SYS_RESOURCE: lowering it fails
		PodLogsDir:               l.path("kubelet", "pod-logs"),
		ResolverConfig:           ptr.To("/etc/resolv.conf"),
		// The seed shares a disk with everything else on the machine: evict only when truly full.
		EvictionHard:                map[string]string{"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
		ImageGCHighThresholdPercent: ptr.To[int32](99),
		ImageGCLowThresholdPercent:  ptr.To[int32](98),
		// Four pods per single-replica tenant: 110 would stop hack/bench/density at about 25
		// tenants. The node's pod range, seedNodePodCIDR, has 253 addresses.
		MaxPods: 240,
	}
	if err := writeYAML(l.path("kubelet", "config.yaml"), cfg); err != nil {
		return err
	}
	return l.start("kubelet", l.k8sBin("kubelet"),
		"--config="+l.path("kubelet", "config.yaml"),
		"--kubeconfig="+l.path("kubelet.kubeconfig"),
		"--root-dir="+l.path("kubelet", "root"),
		// Neither follows --root-dir.
		"--cert-dir="+l.path("kubelet", "pki"),
		"--volume-plugin-dir="+l.path("kubelet", "volume-plugins"),
		"--hostname-override="+l.nodeName,
		"--node-ip="+l.nodeIP.String(),
	)
}

func (l *Local) startKubeProxy(context.Context) error {
	return l.start("kube-proxy", l.k8sBin("kube-proxy"),
		"--kubeconfig="+l.path("kube-proxy.kubeconfig"),
		"--hostname-override="+l.nodeName,
		"--cluster-cidr="+seedPodCIDR,
		"--proxy-mode=iptables",
		"--oom-score-adj=0",
		// Leave the host's conntrack table size alone.
		"--conntrack-max-per-core=0",
		"--metrics-bind-address=127.0.0.1:10249",
		"--healthz-bind-address=127.0.0.1:10256",
	)
}

// waitNodeReady waits for the node to be Ready and for the default ServiceAccount, without
// which pods are refused.
func (l *Local) waitNodeReady(ctx context.Context) error {
	cs, err := l.clientset()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last string
	for {
		node, err := cs.CoreV1().Nodes().Get(ctx, l.nodeName, metav1.GetOptions{})
		switch {
		case err != nil:
			last = err.Error()
		case !nodeReady(node):
			last = "node not Ready"
		default:
			if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err == nil {
				return nil
			}
			last = "no default ServiceAccount yet"
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not Ready within 2m (%s); see %s", l.nodeName, last, l.path("logs", "kubelet.log"))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// EmptyDirPath is where the seed's kubelet keeps emptyDir volume of the pod with UID
// podUID on this machine: what a test reads to see what a pod wrote there.
func (l *Local) EmptyDirPath(podUID, volume string) string {
	return filepath.Join(l.path("kubelet", "root"), "pods", podUID, "volumes", "kubernetes.io~empty-dir", volume)
}
