package bootstrap

import (
	"bytes"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// testToken is a fixed token, so that the golden files are stable.
func testToken(t *testing.T) Token {
	t.Helper()
	tok, err := ParseToken("abcdef.0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const testCAHash = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func workerInputs(t *testing.T, vcpus int64, memory string, overrides v1alpha1.KubeletSpec, mutate ...func(*WorkerInputs)) WorkerInputs {
	t.Helper()
	r, err := Reservations(*resource.NewQuantity(vcpus, resource.DecimalSI), resource.MustParse(memory), overrides)
	if err != nil {
		t.Fatal(err)
	}
	in := WorkerInputs{
		NodeName:          "acme-pool-a-0",
		APIServerEndpoint: "203.0.113.10:6443",
		Token:             testToken(t),
		CACertHash:        testCAHash,
		NodeLabels:        map[string]string{"kubeseed.io/worker-pool": "acme-pool-a"},
		Reserved:          r,
	}
	for _, m := range mutate {
		m(&in)
	}
	return in
}

// cloudConfig is the user_data as the e2e harness reads it: write_files and runcmd only.
type cloudConfig struct {
	WriteFiles []struct {
		Path        string `json:"path"`
		Permissions string `json:"permissions"`
		Content     string `json:"content"`
	} `json:"write_files"`
	RunCmd         []string `json:"runcmd"`
	ManageEtcHosts string   `json:"manage_etc_hosts"`
}

// TestWorkerUserDataGolden renders the user_data of typical workers and compares it with
// testdata/cloudinit/<name>.yaml (go test ./pkg/bootstrap -run WorkerUserData -update
// rewrites them).
func TestWorkerUserDataGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		in   WorkerInputs
	}{
		{"m1-large", workerInputs(t, 4, "8Gi", v1alpha1.KubeletSpec{})},
		{"overrides-ipv6", workerInputs(t, 16, "32Gi", v1alpha1.KubeletSpec{
			KubeReserved:   map[string]resource.Quantity{"cpu": resource.MustParse("1"), "memory": resource.MustParse("2Gi")},
			SystemReserved: map[string]resource.Quantity{"ephemeral-storage": resource.MustParse("1Gi")},
			EvictionHard:   map[string]v1alpha1.EvictionThreshold{"memory.available": "500Mi"},
		}, func(in *WorkerInputs) {
			in.NodeName = "big-3"
			in.APIServerEndpoint = "[2001:db8::10]:6443"
			in.NodeLabels = map[string]string{"kubeseed.io/worker-pool": "big", "example.com/tier": "gold"}
		})},
		{"local-machine", workerInputs(t, 2, "4Gi", v1alpha1.KubeletSpec{}, func(in *WorkerInputs) {
			in.CRISocket = "unix:///run/containerd/containerd.sock"
			in.IgnorePreflightErrors = []string{"SystemVerification", "Service-Kubelet"}
		})},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := WorkerUserData(c.in)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "cloudinit", c.name+".yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("user_data differs from %s (run with -update to accept):\n%s", path, got)
			}
			again, err := WorkerUserData(c.in)
			if err != nil || !bytes.Equal(got, again) {
				t.Errorf("a second render differs: not a pure function of its inputs")
			}
		})
	}
}

// TestWorkerUserDataIsWhatKubeadmReads parses the user_data back: only write_files,
// runcmd and manage_etc_hosts (the server's name in its own /etc/hosts, which kubeadm's
// preflight looks up), the JoinConfiguration kubeadm v1beta4 reads, the patch of the
// reservations, and one command, stock kubeadm join with that file.
func TestWorkerUserDataIsWhatKubeadmReads(t *testing.T) {
	in := workerInputs(t, 4, "8Gi", v1alpha1.KubeletSpec{})
	out, err := WorkerUserData(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "#cloud-config\n") {
		t.Errorf("user_data does not start with #cloud-config")
	}
	var top map[string]any
	if err := yaml.Unmarshal(out, &top); err != nil {
		t.Fatalf("user_data is not YAML: %v", err)
	}
	var keys []string
	for k := range top {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"manage_etc_hosts", "runcmd", "write_files"}) {
		t.Errorf("top-level keys %v, want only manage_etc_hosts, runcmd and write_files", keys)
	}
	var cc cloudConfig
	if err := yaml.UnmarshalStrict(out, &cc); err != nil {
		t.Fatalf("user_data: %v", err)
	}
	if cc.ManageEtcHosts != "localhost" {
		t.Errorf("manage_etc_hosts %q, want localhost", cc.ManageEtcHosts)
	}
	if want := []string{"kubeadm join --config " + JoinConfigurationPath}; !slices.Equal(cc.RunCmd, want) {
		t.Errorf("runcmd %q, want %q", cc.RunCmd, want)
	}
	files := map[string]string{}
	for _, f := range cc.WriteFiles {
		files[f.Path] = f.Content
		if f.Path == JoinConfigurationPath && f.Permissions != "0600" {
			t.Errorf("%s (holds the token) has permissions %s, want 0600", f.Path, f.Permissions)
		}
	}
	var join joinConfiguration
	if err := yaml.UnmarshalStrict([]byte(files[JoinConfigurationPath]), &join); err != nil {
		t.Fatalf("JoinConfiguration: %v", err)
	}
	bt := join.Discovery.BootstrapToken
	switch {
	case join.APIVersion != "kubeadm.k8s.io/v1beta4" || join.Kind != "JoinConfiguration":
		t.Errorf("JoinConfiguration is %s %s", join.APIVersion, join.Kind)
	case bt.APIServerEndpoint != "203.0.113.10:6443" || bt.Token != "abcdef.0123456789abcdef" || !slices.Equal(bt.CACertHashes, []string{testCAHash}):
		t.Errorf("discovery %+v", bt)
	case join.NodeRegistration.Name != "acme-pool-a-0" || join.NodeRegistration.CRISocket != DefaultCRISocket:
		t.Errorf("nodeRegistration %+v", join.NodeRegistration)
	case !slices.Equal(join.NodeRegistration.KubeletExtraArgs, []kubeadmArg{{Name: "node-labels", Value: "kubeseed.io/worker-pool=acme-pool-a"}}):
		t.Errorf("kubeletExtraArgs %+v", join.NodeRegistration.KubeletExtraArgs)
	case join.Patches.Directory != PatchesDir || filepath.Dir(KubeletPatchPath) != PatchesDir:
		t.Errorf("patches %+v, kubelet patch at %s", join.Patches, KubeletPatchPath)
	}
	var patch kubeletPatch
	if err := yaml.UnmarshalStrict([]byte(files[KubeletPatchPath]), &patch); err != nil {
		t.Fatalf("kubelet patch: %v", err)
	}
	// 4 vCPUs and 8 GiB: docs/workers.md's table.
	if patch.KubeReserved["cpu"] != "80m" || patch.KubeReserved["memory"] != "1844Mi" || patch.SystemReserved["memory"] != "200Mi" ||
		patch.EvictionHard["memory.available"] != "100Mi" || len(patch.EvictionHard) != 5 {
		t.Errorf("kubelet patch %+v", patch)
	}
	// Nova's limit is 64 KiB once base64-encoded.
	if n := base64.StdEncoding.EncodedLen(len(out)); n > 65535 {
		t.Errorf("user_data is %d bytes encoded", n)
	}
}

// TestWorkerUserDataRefusesBadInputs without ever printing the token.
func TestWorkerUserDataRefusesBadInputs(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*WorkerInputs)
		want   string
	}{
		{"node name", func(in *WorkerInputs) { in.NodeName = "Pool_0" }, "node name"},
		{"endpoint without port", func(in *WorkerInputs) { in.APIServerEndpoint = "203.0.113.10" }, "not host:port"},
		{"endpoint port", func(in *WorkerInputs) { in.APIServerEndpoint = "203.0.113.10:0" }, "bad port"},
		{"token without secret", func(in *WorkerInputs) { in.Token = Token{ID: "abcdef"} }, "bootstrap token abcdef.<redacted>"},
		{"CA hash", func(in *WorkerInputs) { in.CACertHash = "0123" }, "CA certificate hash"},
		{"restricted label", func(in *WorkerInputs) { in.NodeLabels = map[string]string{"node-role.kubernetes.io/worker": ""} }, "kubernetes.io"},
		{"label value", func(in *WorkerInputs) { in.NodeLabels = map[string]string{"kubeseed.io/worker-pool": "a b"} }, "value"},
		{"no reservations", func(in *WorkerInputs) { in.Reserved = Reserved{} }, "reservations are missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := workerInputs(t, 2, "4Gi", v1alpha1.KubeletSpec{}, c.mutate)
			_, err := WorkerUserData(in)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one naming %q", err, c.want)
			}
			if strings.Contains(err.Error(), "0123456789abcdef") {
				t.Errorf("error reveals the token: %v", err)
			}
		})
	}
}

// TestWorkerUserDataChecksTheImageVersion runs the user_data's runcmd, as cloud-init does
// (one sh script), on an "image" whose kubeadm prints a version: the join runs only when
// it is the version asked for, and a mismatch says both versions.
func TestWorkerUserDataChecksTheImageVersion(t *testing.T) {
	for _, tc := range []struct {
		name, image, want string
		joins             bool
	}{
		{name: "same version joins", image: "v1.36.3", want: "v1.36.3", joins: true},
		{name: "other patch stops", image: "v1.36.2", want: "v1.36.3"},
		{name: "other minor stops", image: "v1.35.4", want: "v1.36.3"},
		{name: "no version asked joins", image: "v1.35.4", want: "", joins: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := WorkerUserData(workerInputs(t, 4, "8Gi", v1alpha1.KubeletSpec{}, func(in *WorkerInputs) { in.KubernetesVersion = tc.want }))
			if err != nil {
				t.Fatal(err)
			}
			var cc cloudConfig
			if err := yaml.Unmarshal(out, &cc); err != nil {
				t.Fatal(err)
			}
			// A kubeadm that prints its version, and records a join instead of joining.
			bin := t.TempDir()
			joined := filepath.Join(bin, "joined")
			kubeadm := "#!/bin/sh\nif [ \"$1\" = version ]; then echo " + tc.image + "; exit 0; fi\ntouch " + joined + "\n"
			if err := os.WriteFile(filepath.Join(bin, "kubeadm"), []byte(kubeadm), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-c", strings.Join(cc.RunCmd, "\n"))
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			runErr := cmd.Run()
			_, statErr := os.Stat(joined)
			if didJoin := statErr == nil; didJoin != tc.joins {
				t.Fatalf("joined = %v, want %v (exit %v, stderr %q)", didJoin, tc.joins, runErr, stderr.String())
			}
			if !tc.joins {
				if runErr == nil {
					t.Error("the script exited 0 without joining: cloud-init would report success")
				}
				if msg := stderr.String(); !strings.Contains(msg, tc.image) || !strings.Contains(msg, tc.want) {
					t.Errorf("stderr %q names not both the image's %s and the pool's %s", msg, tc.image, tc.want)
				}
			}
		})
	}
}

// TestWorkerUserDataTaints: taints land in kubeadm's nodeRegistration.taints, which it
// registers the Node with; none leaves the field out (kubeadm then taints no worker).
func TestWorkerUserDataTaints(t *testing.T) {
	for _, taints := range [][]corev1.Taint{nil, {{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}} {
		out, err := WorkerUserData(workerInputs(t, 4, "8Gi", v1alpha1.KubeletSpec{}, func(in *WorkerInputs) { in.Taints = taints }))
		if err != nil {
			t.Fatal(err)
		}
		var cc cloudConfig
		if err := yaml.Unmarshal(out, &cc); err != nil {
			t.Fatal(err)
		}
		for _, f := range cc.WriteFiles {
			if f.Path != JoinConfigurationPath {
				continue
			}
			if taints == nil && strings.Contains(f.Content, "taints") {
				t.Errorf("no taints asked, yet:\n%s", f.Content)
			}
			var join joinConfiguration
			if err := yaml.UnmarshalStrict([]byte(f.Content), &join); err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(join.NodeRegistration.Taints, taints, func(a, b corev1.Taint) bool { return a.MatchTaint(&b) && a.Value == b.Value }) {
				t.Errorf("taints %+v, want %+v", join.NodeRegistration.Taints, taints)
			}
		}
	}
}
