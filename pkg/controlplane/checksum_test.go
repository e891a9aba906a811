package controlplane_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestPKIChecksum: a Secret's new data rolls exactly the components that mount it and
// cannot read it again. A renewal changes a Secret's checksum but not its CA checksum; a
// new CA changes both.
func TestPKIChecksum(t *testing.T) {
	inputs := func(full, ca map[string]string) controlplane.Inputs {
		return controlplane.Inputs{SecretChecksums: full, SecretCAChecksums: ca}
	}
	before := mustValues(t, tenant(), inputs(map[string]string{}, map[string]string{}))
	cases := []struct {
		secret  string
		newCA   bool
		changed []string
	}{
		// etcd and the apiserver load renewed leaves from their files.
		{"acme-etcd-peer", false, nil},
		{"acme-etcd-server", false, nil},
		{"acme-apiserver-tls", false, nil},
		{"acme-apiserver-etcd-client", false, nil},
		{"acme-apiserver-kubelet-client", false, nil},
		{"acme-front-proxy-client", false, nil},
		{"acme-etcd-peer", true, []string{"etcd"}},
		{"acme-apiserver-etcd-client", true, []string{"apiserver"}},
		// A leaf mounted without its ca.crt: the CA is counted through acme-ca's mount.
		{"acme-apiserver-tls", true, nil},
		// CAs, keys and embedded kubeconfigs are read once.
		{"acme-ca", false, []string{"apiserver", "controller-manager", "scheduler"}},
		{"acme-sa", false, []string{"apiserver", "controller-manager"}},
		{"acme-scheduler-kubeconfig", false, []string{"scheduler"}},
		{"acme-controller-manager-kubeconfig", false, []string{"controller-manager"}},
		{"acme-kubeconfig", false, nil}, // the admin kubeconfig is mounted nowhere
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s new CA %v", c.secret, c.newCA), func(t *testing.T) {
			full, ca := map[string]string{c.secret: "2"}, map[string]string{}
			if c.newCA {
				ca[c.secret] = "2"
			}
			after := mustValues(t, tenant(), inputs(full, ca))
			var changed []string
			for name, pair := range map[string][2]string{
				"etcd":               {before.Etcd.PKIChecksum, after.Etcd.PKIChecksum},
				"apiserver":          {before.APIServer.PKIChecksum, after.APIServer.PKIChecksum},
				"controller-manager": {before.ControllerManager.PKIChecksum, after.ControllerManager.PKIChecksum},
				"scheduler":          {before.Scheduler.PKIChecksum, after.Scheduler.PKIChecksum},
			} {
				if pair[0] != pair[1] {
					changed = append(changed, name)
				}
			}
			slices.Sort(changed)
			if !slices.Equal(changed, c.changed) {
				t.Errorf("%s rolls %v, want %v", c.secret, changed, c.changed)
			}
		})
	}
}

// TestSecretCAChecksum: only ca.crt counts.
func TestSecretCAChecksum(t *testing.T) {
	a := controlplane.SecretCAChecksum(map[string][]byte{"ca.crt": []byte("ca"), "tls.crt": []byte("cert"), "tls.key": []byte("key")})
	if b := controlplane.SecretCAChecksum(map[string][]byte{"ca.crt": []byte("ca"), "tls.crt": []byte("renewed"), "tls.key": []byte("new key")}); b != a {
		t.Error("a renewed certificate and key change the CA checksum")
	}
	if b := controlplane.SecretCAChecksum(map[string][]byte{"ca.crt": []byte("new ca"), "tls.crt": []byte("cert"), "tls.key": []byte("key")}); b == a {
		t.Error("a new CA does not change the CA checksum")
	}
	if controlplane.SecretCAChecksum(nil) != controlplane.SecretCAChecksum(map[string][]byte{"tls.crt": []byte("cert")}) {
		t.Error("a leaf-only Secret's CA checksum depends on its leaf")
	}
}

func TestSecretDataChecksum(t *testing.T) {
	a := controlplane.SecretDataChecksum(map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")})
	cases := map[string]map[string][]byte{
		"other value":          {"tls.crt": []byte("cert2"), "tls.key": []byte("key")},
		"value moved to a key": {"tls.crt": []byte("certtls.key"), "": []byte("key")},
		"key missing":          {"tls.crt": []byte("cert")},
	}
	for name, data := range cases {
		if controlplane.SecretDataChecksum(data) == a {
			t.Errorf("%s: same checksum", name)
		}
	}
	if b := controlplane.SecretDataChecksum(map[string][]byte{"tls.key": []byte("key"), "tls.crt": []byte("cert")}); b != a {
		t.Errorf("checksum depends on map order")
	}
}
