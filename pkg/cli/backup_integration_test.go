//go:build envtest

package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// TestBackupCommands runs backup list and download as the binary does, against the real
// apiserver for the TenantCluster, its credentials Secret and the backup key, with a fake
// Swift holding a backup backup.Run wrote: the key Secret is looked up in the manager's
// namespace, its absence and a user who may not read it are errors that name it.
func TestBackupCommands(t *testing.T) {
	c := seed(t)
	ctx := context.Background()
	ns, managerNS := namespace(t, c), namespace(t, c)
	tc := &v1alpha1.TenantCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"},
		Spec: v1alpha1.TenantClusterSpec{
			Endpoint: v1alpha1.EndpointSpec{Type: v1alpha1.EndpointNodePort},
			Cloud:    &v1alpha1.CloudSpec{CredentialsSecretRef: corev1.LocalObjectReference{Name: "customer-cloud"}},
		},
	}
	tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Container: "saved"}
	if err := c.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "customer-cloud"},
		Data:       map[string][]byte{openstack.SecretKeyCloudsYAML: []byte("clouds: {openstack: {}}\n")},
	}); err != nil {
		t.Fatal(err)
	}
	store := openstack.NewFake()
	db := bytes.Repeat([]byte("etcd page "), 20000)
	res := backup.Run(ctx, backup.Job{
		Etcd: testSnap{db: db, rev: 4242}, Store: store, Container: "saved", Prefix: ns + "/acme/",
		Key: testBackupKey, KeyID: backup.KeySecretName(string(tc.UID)), Keys: testKeys,
		Tenant: ns + "/acme", TenantUID: string(tc.UID), Keep: 7,
		Now: func() time.Time { return time.Date(2026, 12, 6, 4, 15, 0, 0, time.UTC) },
	})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	setStatus(t, c, tc, v1alpha1.TenantClusterStatus{Phase: v1alpha1.TenantClusterReady, Backup: &v1alpha1.EtcdBackupStatus{LastBackup: ns + "/acme/20261206T041500Z"}})
	keyName := backup.KeySecretName(string(tc.UID))
	run := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		g := &global{config: genericclioptions.NewConfigFlags(true), objectStore: func(_ context.Context, s *corev1.Secret) (openstack.ObjectStore, error) {
			if (s.Namespace != ns || s.Name != "customer-cloud") && (s.Namespace != managerNS || s.Name != backup.StoreSecretName) {
				return nil, fmt.Errorf("asked for the Swift of Secret %s/%s", s.Namespace, s.Name)
			}
			return store, nil
		}}
		var out, errOut bytes.Buffer
		g.streams = genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
		global := []string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(filepath.Dir(kubeconfig), "cache")}
		code := execute(ctx, newRootCommand(g), append(global, args...), g.streams)
		return code, out.String(), errOut.String()
	}

	t.Run("list", func(t *testing.T) {
		code, out, errOut := run(t, "backup", "list", "acme", "-n", ns)
		if code != ExitOK || !strings.Contains(out, "*      20261206T041500Z   2026-12-06T04:15:00Z   ") || !strings.Contains(out, " 4242 ") {
			t.Errorf("exit %d, stdout\n%s\nstderr %q", code, out, errOut)
		}
	})

	t.Run("the key Secret is missing", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		code, out, errOut := run(t, "backup", "download", "acme", "-n", ns, "--dir", dir, "--manager-namespace", managerNS)
		want := "error: the backup key Secret " + managerNS + "/" + keyName + " does not exist: "
		if code != ExitError || out != "" || !strings.HasPrefix(errOut, want) {
			t.Errorf("exit %d, stdout %q, stderr %q; want it to start with %q", code, out, errOut, want)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Error("the directory was created for a download that could not start")
		}
	})

	// The key, as the controller makes it.
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: managerNS, Name: keyName, Labels: map[string]string{backup.KeyLabel: "true"},
			Annotations: map[string]string{backup.KeyTenantAnnotation: ns + "/acme", backup.KeyTenantUIDAnnotation: string(tc.UID)}},
		Data: map[string][]byte{backup.KeyField: testBackupKey},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("download", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		code, out, errOut := run(t, "backup", "download", "acme", "-n", ns, "--dir", dir, "--manager-namespace", managerNS)
		if code != ExitOK {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		got, err := os.ReadFile(filepath.Join(dir, "snapshot.db"))
		if err != nil || !bytes.Equal(got, withTrailer(db)) {
			t.Fatalf("snapshot.db: %d bytes, %v", len(got), err)
		}
		for _, want := range []string{
			"Backup 20261206T041500Z of TenantCluster " + ns + "/acme (etcd revision 4242, taken 2026-12-06T04:15:00Z) downloaded from Swift container saved, decrypted and verified:\n",
			"  " + dir + "/keys/acme-encryption-config.yaml\n",
			"etcdutl snapshot restore " + dir + "/snapshot.db --bump-revision 1000000000 --mark-compacted --data-dir " + dir + "/etcd-data\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
		// Again into the same directory: refused, nothing changed.
		code, _, errOut = run(t, "backup", "download", "acme", "-n", ns, "--dir", dir, "--manager-namespace", managerNS)
		if code != ExitError || !strings.Contains(errOut, "error: refusing to overwrite "+dir+"/snapshot.db, "+dir+"/manifest.json, "+dir+"/keys/acme-ca.yaml") {
			t.Errorf("second download: exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("a user who may not read the manager's namespace", func(t *testing.T) {
		// Allowed what list needs in the tenant's namespace, nothing in the manager's.
		if err := c.Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backup-reader"},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"tenantclusters"}, Verbs: []string{"get"}},
				{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}},
			},
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backup-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "backup-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "customer-" + ns}},
		}); err != nil {
			t.Fatal(err)
		}
		user, err := env.AddUser(envtest.User{Name: "customer-" + ns}, nil)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := user.KubeConfig()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "customer.kubeconfig")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := run(t, "--kubeconfig", path, "backup", "list", "acme", "-n", ns); code != ExitOK || !strings.Contains(out, "20261206T041500Z") {
			t.Errorf("list: exit %d, stderr %q", code, errOut)
		}
		code, _, errOut := run(t, "--kubeconfig", path, "backup", "download", "acme", "-n", ns, "--dir", filepath.Join(t.TempDir(), "out"), "--manager-namespace", managerNS)
		want := "error: cannot read the backup key Secret " + managerNS + "/" + keyName + ": downloading a backup is an admin command, it needs get on Secrets in the manager's namespace " + managerNS + ": "
		if code != ExitError || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "forbidden") {
			t.Errorf("exit %d, stderr %q; want it to start with %q", code, errOut, want)
		}
	})

	t.Run("a tenant without spec.cloud, in the operator-wide store", func(t *testing.T) {
		plain := createTenant(t, c, ns, "plain", v1alpha1.TenantClusterStatus{})
		code, _, errOut := run(t, "backup", "list", "plain", "-n", ns, "--manager-namespace", managerNS)
		want := "TenantCluster " + ns + "/plain has no spec.cloud, so its backups are in the operator-wide store, whose credentials Secret " + managerNS + "/" + backup.StoreSecretName + " an admin reads"
		if code != ExitError || !strings.Contains(errOut, want) {
			t.Errorf("without the store: exit %d, stderr %q, want %q", code, errOut, want)
		}
		if err := c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: managerNS, Name: backup.StoreSecretName},
			Data:       map[string][]byte{openstack.SecretKeyCloudsYAML: []byte("clouds: {openstack: {}}\n"), backup.StoreContainerKey: []byte("operator")},
		}); err != nil {
			t.Fatal(err)
		}
		res := backup.Run(ctx, backup.Job{
			Etcd: testSnap{db: db, rev: 777}, Store: store, Container: "operator", Prefix: ns + "/plain/",
			Key: testBackupKey, KeyID: backup.KeySecretName(string(plain.UID)), Keys: testKeys,
			Tenant: ns + "/plain", TenantUID: string(plain.UID), Keep: 7,
			Now: func() time.Time { return time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC) },
		})
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		code, out, errOut := run(t, "backup", "list", "plain", "-n", ns, "--manager-namespace", managerNS)
		if code != ExitOK || !strings.Contains(out, "20261206T050000Z") || !strings.Contains(out, " 777 ") {
			t.Errorf("list from the operator-wide store: exit %d, stdout\n%s\nstderr %q", code, out, errOut)
		}
		code, _, errOut = run(t, "backup", "list", "plain", "-n", ns, "--manager-namespace", managerNS, "--container", "mine")
		if code == ExitOK || !strings.Contains(errOut, "--container names a container of spec.cloud's project") {
			t.Errorf("--container without spec.cloud: exit %d, stderr %q", code, errOut)
		}
	})
}
