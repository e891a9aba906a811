package controlplane_test

import (
	"slices"
	"testing"

	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// TestPKIChecksum: a Secret's new data rolls exactly the components that mount it.
func TestPKIChecksum(t *testing.T) {
	before := mustValues(t, tenant(), controlplane.Inputs{SecretChecksums: map[string]string{
		"acme-etcd-peer": "1", "acme-ca": "1", "acme-scheduler-kubeconfig": "1",
	}})
	cases := []struct {
		secret  string
		changed []string
	}{
		{"acme-etcd-peer", []string{"etcd"}},
		{"acme-ca", []string{"apiserver", "controller-manager", "scheduler"}},
		{"acme-scheduler-kubeconfig", []string{"scheduler"}},
		{"acme-kubeconfig", nil}, // the admin kubeconfig is mounted nowhere
	}
	for _, c := range cases {
		t.Run(c.secret, func(t *testing.T) {
			sums := map[string]string{"acme-etcd-peer": "1", "acme-ca": "1", "acme-scheduler-kubeconfig": "1"}
			sums[c.secret] = "2"
			after := mustValues(t, tenant(), controlplane.Inputs{SecretChecksums: sums})
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
				t.Errorf("renewing %s rolls %v, want %v", c.secret, changed, c.changed)
			}
		})
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
