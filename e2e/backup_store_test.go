//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// startOperatorStoreTenant makes the admin's operator-wide backup store (Secret
// kubeseed-backup-store in the manager's namespace: the test cloud's admin project and a
// container of its own) and a tenant without spec.cloud that backs up into it
// (docs/backups.md#an-operator-wide-store). It comes up beside TestEtcdBackupToSwift's own
// tenant; checkOperatorStoreBackup looks at what it wrote.
func startOperatorStoreTenant(t *testing.T, ctx context.Context, cloud testCloud, ns string) (*v1alpha1.TenantCluster, string) {
	t.Helper()
	var doc struct {
		Clouds map[string]any `json:"clouds"`
	}
	if err := yaml.Unmarshal(cloud.cloudsYAML, &doc); err != nil || doc.Clouds["admin"] == nil {
		t.Fatalf("the test cloud's clouds.yaml has no cloud \"admin\": %v", err)
	}
	cloudsYAML, err := yaml.Marshal(map[string]any{"clouds": map[string]any{"backups": doc.Clouds["admin"]}})
	if err != nil {
		t.Fatal(err)
	}
	container := fmt.Sprintf("kubeseed-e2e-operator-%d", time.Now().UnixNano()%1e6)
	store := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: controlplane.DefaultManagerNamespace, Name: backup.StoreSecretName},
		Data: map[string][]byte{
			openstack.SecretKeyCloudsYAML: cloudsYAML, openstack.SecretKeyCloud: []byte("backups"),
			backup.StoreContainerKey: []byte(container),
		},
	}
	if err := kube.Create(ctx, store); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.Delete(context.Background(), store) })
	tc := smallTenant(ns, "operator-stored")
	tc.Spec.ControlPlane.Etcd.Backup = &v1alpha1.EtcdBackupSpec{Every: &metav1.Duration{Duration: time.Hour}}
	if err := kube.Create(ctx, tc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteTenant(t, tc) })
	return tc, container
}

// checkOperatorStoreBackup waits for the first backup of the tenant without spec.cloud and
// finds it, complete, in the admin's container under the tenant's namespace and name, then
// deletes the tenant (its final backup goes there too; the cleanup waits for it).
func checkOperatorStoreBackup(t *testing.T, ctx context.Context, cloud testCloud, tc *v1alpha1.TenantCluster, container string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := kube.Get(ctx, client.ObjectKeyFromObject(tc), tc); err != nil {
			return false, nil
		}
		return meta.IsStatusConditionTrue(tc.Status.Conditions, v1alpha1.BackedUpCondition), nil
	})
	if err != nil {
		dumpManagerLogs(t)
		t.Fatalf("tenant %s/%s without spec.cloud: no backup into the operator-wide store: %+v", tc.Namespace, tc.Name, meta.FindStatusCondition(tc.Status.Conditions, v1alpha1.BackedUpCondition))
	}
	admin, err := openstack.NewFromCloudsYAML(ctx, cloud.cloudsYAML, "admin", openstack.Options{Services: []openstack.Service{openstack.ServiceObjectStore}})
	if err != nil {
		t.Fatal(err)
	}
	prefix := tc.Namespace + "/" + tc.Name + "/"
	all, err := backup.List(ctx, admin.ObjectStore, container, prefix)
	if err != nil || len(all) != 1 || !all[0].Complete || prefix+all[0].Name != tc.Status.Backup.LastBackup {
		t.Errorf("the admin's container %s holds %+v below %s (%v), want the one complete backup %s", container, all, prefix, err, tc.Status.Backup.LastBackup)
	}
	t.Logf("tenant without spec.cloud: backup %s in the operator-wide store (container %s), %d bytes stored", tc.Status.Backup.LastBackup, container, tc.Status.Backup.SizeBytes)
	if err := kube.Delete(ctx, tc); client.IgnoreNotFound(err) != nil {
		t.Error(err)
	}
}
