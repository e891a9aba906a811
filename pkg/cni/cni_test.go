package cni

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const flanneldEnv = `FLANNEL_NETWORK=10.244.0.0/16
FLANNEL_SUBNET=10.244.1.1/24
FLANNEL_MTU=1450
FLANNEL_IPMASQ=true
`

func TestParseSubnetEnv(t *testing.T) {
	want := SubnetEnv{
		Network: netip.MustParsePrefix("10.244.0.0/16"), Subnet: netip.MustParsePrefix("10.244.1.1/24"), MTU: 1450, IPMasq: true,
	}
	for _, tc := range []struct {
		name, in string
		want     SubnetEnv
		err      string // substring of the error; empty for none
	}{
		{name: "as flanneld writes it", in: flanneldEnv, want: want},
		{
			name: "comments, blanks, quotes, IPv6 keys and spaces",
			in:   "# written by flanneld\n\nFLANNEL_NETWORK = \"10.244.0.0/16\"\nFLANNEL_IPV6_NETWORK=fd00::/56\nFLANNEL_SUBNET='10.244.1.1/24'\n  FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true",
			want: want,
		},
		{
			name: "no masquerade",
			in:   strings.Replace(flanneldEnv, "FLANNEL_IPMASQ=true", "FLANNEL_IPMASQ=false", 1),
			want: SubnetEnv{Network: want.Network, Subnet: want.Subnet, MTU: 1450},
		},
		{name: "empty", in: "", err: "FLANNEL_NETWORK is missing"},
		{name: "missing MTU", in: strings.Replace(flanneldEnv, "FLANNEL_MTU=1450\n", "", 1), err: "FLANNEL_MTU is missing"},
		{name: "empty subnet", in: strings.Replace(flanneldEnv, "10.244.1.1/24", "", 1), err: "FLANNEL_SUBNET is missing"},
		{name: "not KEY=VALUE", in: flanneldEnv + "garbage\n", err: `line 5: "garbage" is not KEY=VALUE`},
		{name: "bad network", in: strings.Replace(flanneldEnv, "10.244.0.0/16", "10.244.0.0", 1), err: "FLANNEL_NETWORK: netip.ParsePrefix"},
		{name: "IPv6 network", in: strings.Replace(flanneldEnv, "10.244.0.0/16", "fd00::/56", 1), err: "FLANNEL_NETWORK: fd00::/56 is not IPv4"},
		{name: "bad subnet", in: strings.Replace(flanneldEnv, "10.244.1.1/24", "10.244.1.300/24", 1), err: "FLANNEL_SUBNET: netip.ParsePrefix"},
		{name: "MTU not a number", in: strings.Replace(flanneldEnv, "1450", "big", 1), err: `FLANNEL_MTU: "big" is not a number`},
		{name: "MTU too small", in: strings.Replace(flanneldEnv, "1450", "40", 1), err: "FLANNEL_MTU: 40 is out of range"},
		{name: "bad IPMASQ", in: strings.Replace(flanneldEnv, "=true", "=yes", 1), err: `FLANNEL_IPMASQ: "yes" is not true or false`},
		{name: "subnet outside the network", in: strings.Replace(flanneldEnv, "10.244.1.1/24", "10.245.1.1/24", 1), err: "FLANNEL_SUBNET 10.245.1.1/24 is not inside FLANNEL_NETWORK 10.244.0.0/16"},
		{name: "subnet wider than the network", in: strings.Replace(flanneldEnv, "10.244.1.1/24", "10.244.1.1/8", 1), err: "is not inside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSubnetEnv([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConflist(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  SubnetEnv
		want string // the conflist, compared as JSON
		err  bool
	}{
		{
			name: "flanneld masquerades",
			env:  SubnetEnv{Network: netip.MustParsePrefix("10.244.0.0/16"), Subnet: netip.MustParsePrefix("10.244.1.1/24"), MTU: 1450, IPMasq: true},
			want: `{"cniVersion":"1.0.0","name":"cbr0","plugins":[
				{"type":"bridge","bridge":"cni0","isDefaultGateway":true,"hairpinMode":true,"ipMasq":false,"mtu":1450,
				 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.1.0/24"}]],"routes":[{"dst":"10.244.0.0/16"}]}},
				{"type":"portmap","capabilities":{"portMappings":true},"snat":true}]}`,
		},
		{
			name: "the bridge masquerades",
			env:  SubnetEnv{Network: netip.MustParsePrefix("10.42.0.0/16"), Subnet: netip.MustParsePrefix("10.42.7.1/25"), MTU: 8950},
			want: `{"cniVersion":"1.0.0","name":"cbr0","plugins":[
				{"type":"bridge","bridge":"cni0","isDefaultGateway":true,"hairpinMode":true,"ipMasq":true,"mtu":8950,
				 "ipam":{"type":"host-local","ranges":[[{"subnet":"10.42.7.0/25"}]],"routes":[{"dst":"10.42.0.0/16"}]}},
				{"type":"portmap","capabilities":{"portMappings":true},"snat":true}]}`,
		},
		{name: "zero", env: SubnetEnv{}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Conflist(tc.env)
			if tc.err {
				if err == nil {
					t.Fatalf("no error for %+v", tc.env)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gotV, wantV any
			if err := json.Unmarshal(got, &gotV); err != nil {
				t.Fatalf("conflist is not JSON: %v\n%s", err, got)
			}
			if err := json.Unmarshal([]byte(tc.want), &wantV); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestInstall(t *testing.T) {
	from, to := t.TempDir(), filepath.Join(t.TempDir(), "opt", "cni", "bin")
	write := func(path, content string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(from, "bridge"), "bridge v1", 0o755)
	write(filepath.Join(from, "portmap"), "portmap v1", 0o644) // installed executable anyway
	if err := os.Mkdir(filepath.Join(from, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("bridge", filepath.Join(from, "link")); err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name   string
		before func()
		want   []string
	}{
		{name: "first install makes the dir", want: []string{"bridge", "link", "portmap"}},
		{name: "identical files are skipped", want: nil},
		{
			name:   "only the changed file is copied",
			before: func() { write(filepath.Join(from, "bridge"), "bridge v2", 0o755) },
			want:   []string{"bridge", "link"},
		},
		{
			name:   "a file changed on the node is replaced",
			before: func() { write(filepath.Join(to, "portmap"), "tampered", 0o755) },
			want:   []string{"portmap"},
		},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		got, err := Install(from, to)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: copied %v, want %v", s.name, got, s.want)
		}
	}
	for name, content := range map[string]string{"bridge": "bridge v2", "portmap": "portmap v1", "link": "bridge v2"} {
		p := filepath.Join(to, name)
		raw, err := os.ReadFile(p)
		if err != nil || string(raw) != content {
			t.Errorf("%s: %q, %v; want %q", name, raw, err, content)
		}
		if st, err := os.Lstat(p); err != nil || st.Mode() != 0o755 {
			t.Errorf("%s: mode %v, %v; want a regular file -rwxr-xr-x", name, st.Mode(), err)
		}
	}
	entries, err := os.ReadDir(to)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Errorf("%d entries in %s, want 3 (no temporary files, no subdir)", len(entries), to)
	}
	if _, err := Install(filepath.Join(from, "missing"), to); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Install from a missing dir: %v", err)
	}
}

// TestWatchConfig waits for the subnet file, writes the conflist, rewrites it on a change
// and leaves it in place when stopped.
func TestWatchConfig(t *testing.T) {
	dir := t.TempDir()
	env, out := filepath.Join(dir, "run", "subnet.env"), filepath.Join(dir, "net.d", "10-flannel.conflist")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WatchConfig(ctx, env, out, 10*time.Millisecond, t.Logf) }()

	waitFor := func(subnet string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if raw, err := os.ReadFile(out); err == nil && strings.Contains(string(raw), `"subnet": "`+subnet+`"`) {
				if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
					t.Errorf("mode %v, %v; want 0644", st.Mode(), err)
				}
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%s never held subnet %s", out, subnet)
	}
	time.Sleep(50 * time.Millisecond) // a few polls without the file
	if _, err := os.Stat(out); err == nil {
		t.Fatal("config written before flanneld's subnet file")
	}
	if err := os.MkdirAll(filepath.Dir(env), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env, []byte(flanneldEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("10.244.1.0/24")
	if err := os.WriteFile(env, []byte(strings.Replace(flanneldEnv, "10.244.1.1/24", "10.244.9.1/24", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor("10.244.9.0/24")

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("stopped: %v", err)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("config removed on stop: %v", err)
	}
}

func TestWatchConfigMalformed(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "subnet.env")
	if err := os.WriteFile(env, []byte(strings.Replace(flanneldEnv, "1450", "x", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WatchConfig(context.Background(), env, filepath.Join(dir, "out.conflist"), time.Millisecond, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "FLANNEL_MTU") {
		t.Fatalf("error %v, want one naming FLANNEL_MTU", err)
	}
}
