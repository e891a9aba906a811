package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// secretKubeconfig is what the controller publishes (pkg/pki.Kubeconfig): kubeadm's names.
func secretKubeconfig(cluster, server string) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: []byte("ca of " + cluster)}
	cfg.AuthInfos["kubernetes-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte("cert of " + cluster), ClientKeyData: []byte("key of " + cluster)}
	cfg.Contexts["kubernetes-admin@"+cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: "kubernetes-admin"}
	cfg.CurrentContext = "kubernetes-admin@" + cluster
	return cfg
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestRenamed(t *testing.T) {
	got, err := renamed(secretKubeconfig("acme", "https://192.0.2.10:31443"), "p1/acme")
	if err != nil {
		t.Fatal(err)
	}
	if got.CurrentContext != "p1/acme" || strings.Join(keys(got.Contexts), ",") != "p1/acme" ||
		strings.Join(keys(got.Clusters), ",") != "p1/acme" || strings.Join(keys(got.AuthInfos), ",") != "p1/acme" {
		t.Fatalf("renamed: %+v", got)
	}
	if ctx := got.Contexts["p1/acme"]; ctx.Cluster != "p1/acme" || ctx.AuthInfo != "p1/acme" {
		t.Errorf("context %+v", ctx)
	}
	if got.Clusters["p1/acme"].Server != "https://192.0.2.10:31443" || string(got.AuthInfos["p1/acme"].ClientKeyData) != "key of acme" {
		t.Errorf("cluster or user lost on the way: %+v %+v", got.Clusters["p1/acme"], got.AuthInfos["p1/acme"])
	}

	broken := secretKubeconfig("acme", "https://x")
	broken.CurrentContext = "nope"
	if _, err := renamed(broken, "p1/acme"); err == nil {
		t.Error("a kubeconfig whose current context does not exist was renamed")
	}
}

func TestMergeKeepsEveryOtherEntry(t *testing.T) {
	existing := clientcmdapi.NewConfig()
	existing.Clusters["seed"] = &clientcmdapi.Cluster{Server: "https://seed:6443"}
	existing.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "t"}
	existing.Contexts["seed"] = &clientcmdapi.Context{Cluster: "seed", AuthInfo: "admin", Namespace: "kube-system"}
	existing.CurrentContext = "seed"
	// An older kubeconfig of the same tenant, to be replaced.
	existing.Clusters["p1/acme"] = &clientcmdapi.Cluster{Server: "https://old:1"}
	existing.AuthInfos["p1/acme"] = &clientcmdapi.AuthInfo{Token: "old"}
	existing.Contexts["p1/acme"] = &clientcmdapi.Context{Cluster: "p1/acme", AuthInfo: "p1/acme"}
	acme, _ := renamed(secretKubeconfig("acme", "https://192.0.2.10:31443"), "p1/acme")
	globex, _ := renamed(secretKubeconfig("globex", "https://192.0.2.10:31444"), "p2/globex")

	for _, c := range []struct {
		name       string
		setContext bool
		current    string
	}{{"keep the current context", false, "seed"}, {"set the context", true, "p2/globex"}} {
		t.Run(c.name, func(t *testing.T) {
			got := merge(merge(existing, acme, "p1/acme", false), globex, "p2/globex", c.setContext)
			if want := "p1/acme,p2/globex,seed"; strings.Join(keys(got.Contexts), ",") != want ||
				strings.Join(keys(got.Clusters), ",") != want || strings.Join(keys(got.AuthInfos), ",") != "admin,p1/acme,p2/globex" {
				t.Fatalf("entries: contexts %v clusters %v users %v", keys(got.Contexts), keys(got.Clusters), keys(got.AuthInfos))
			}
			if got.Clusters["p1/acme"].Server != "https://192.0.2.10:31443" || got.AuthInfos["p1/acme"].Token != "" {
				t.Errorf("the old p1/acme entries were not replaced: %+v %+v", got.Clusters["p1/acme"], got.AuthInfos["p1/acme"])
			}
			if got.Contexts["seed"].Namespace != "kube-system" || got.AuthInfos["admin"].Token != "t" {
				t.Errorf("the seed's entries changed")
			}
			if got.CurrentContext != c.current {
				t.Errorf("current context %q, want %q", got.CurrentContext, c.current)
			}
		})
	}
	if existing.Clusters["p1/acme"].Server != "https://old:1" {
		t.Error("merge wrote into the existing config")
	}
}

func TestMergeIntoFile(t *testing.T) {
	acme, _ := renamed(secretKubeconfig("acme", "https://192.0.2.10:31443"), "p1/acme")

	t.Run("a new file, in a new directory, is 0600", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), ".kube", "config")
		if err := mergeIntoFile(path, acme, "p1/acme", true); err != nil {
			t.Fatal(err)
		}
		checkMode(t, path)
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CurrentContext != "p1/acme" || cfg.Clusters["p1/acme"] == nil {
			t.Errorf("written config %+v", cfg)
		}
	})

	t.Run("an existing 0644 file keeps its entries, becomes 0600, through a symlink", func(t *testing.T) {
		dir := t.TempDir()
		real := filepath.Join(dir, "real-config")
		existing := clientcmdapi.NewConfig()
		existing.Clusters["seed"] = &clientcmdapi.Cluster{Server: "https://seed:6443"}
		existing.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "t"}
		existing.Contexts["seed"] = &clientcmdapi.Context{Cluster: "seed", AuthInfo: "admin"}
		existing.CurrentContext = "seed"
		raw, _ := clientcmd.Write(*existing)
		if err := os.WriteFile(real, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "config")
		if err := os.Symlink(real, link); err != nil {
			t.Fatal(err)
		}
		if err := mergeIntoFile(link, acme, "p1/acme", false); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("the symlink was replaced: %v %v", fi, err)
		}
		checkMode(t, real)
		cfg, err := clientcmd.LoadFromFile(real)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CurrentContext != "seed" || strings.Join(keys(cfg.Contexts), ",") != "p1/acme,seed" || cfg.AuthInfos["admin"].Token != "t" {
			t.Errorf("merged config: current %q, contexts %v", cfg.CurrentContext, keys(cfg.Contexts))
		}
		if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	})

	t.Run("a held lock refuses", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := mergeIntoFile(path, acme, "p1/acme", false); err == nil || !strings.Contains(err.Error(), "lock") {
			t.Errorf("merge under a held lock: %v", err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("the file was written under a held lock: %v", err)
		}
	})

	t.Run("a file that is not a kubeconfig is left alone", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(path, []byte("{not yaml"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := mergeIntoFile(path, acme, "p1/acme", false); err == nil {
			t.Error("merged into a broken file")
		}
		if raw, _ := os.ReadFile(path); string(raw) != "{not yaml" {
			t.Errorf("the broken file was rewritten: %q", raw)
		}
	})
}

func checkMode(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
}

func TestKubeconfigFlags(t *testing.T) {
	for _, c := range []struct {
		o   kubeconfigOptions
		err string
	}{
		{o: kubeconfigOptions{}},
		{o: kubeconfigOptions{outputFile: "f"}},
		{o: kubeconfigOptions{merge: true, kubeconfigFile: "f", setContext: true}},
		{o: kubeconfigOptions{outputFile: "f", merge: true}, err: "exclude each other"},
		{o: kubeconfigOptions{setContext: true}, err: "go with --merge"},
		{o: kubeconfigOptions{kubeconfigFile: "f"}, err: "go with --merge"},
	} {
		err := c.o.validate()
		if (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.err)
		}
	}
}
