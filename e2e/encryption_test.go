//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/pkg/controlplane"
)

// testEncryptionKeyRotation follows docs/operations.md#encryption-at-rest on tenant a: a
// new key added first takes new writes while the old one still decrypts, rewriting every
// Secret moves them all to it, and once the old key is removed every Secret still reads.
// It runs after testSecretsEncryptedAtRest, whose Secret "sealed" is under the first key.
func testEncryptionKeyRotation(t *testing.T, ctx context.Context, a *v1alpha1.TenantCluster, cfgA *rest.Config) {
	tenant := kubernetes.NewForConfigOrDie(cfgA)
	const newKey = "key-rotated"
	prefix := []byte("k8s:enc:secretbox:v1:" + newKey + ":")
	oldKey := editEncryptionKeys(t, ctx, a, func(keys []any) []any {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		return append([]any{map[string]any{"name": newKey, "secret": base64.StdEncoding.EncodeToString(secret)}}, keys...)
	})

	// Step 1: once the apiservers have the new file, new writes use the new key.
	probe := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "rotation-probe"}, StringData: map[string]string{"n": "0"}}
	if _, err := tenant.CoreV1().Secrets("default").Create(ctx, probe, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := wait.PollUntilContextTimeout(ctx, 3*time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		n++
		s, err := tenant.CoreV1().Secrets("default").Get(ctx, "rotation-probe", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		s.StringData = map[string]string{"n": fmt.Sprint(n)}
		if _, err := tenant.CoreV1().Secrets("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			return false, nil
		}
		return bytes.HasPrefix(etcdRaw(t, ctx, a, "/registry/secrets/default/rotation-probe"), prefix), nil
	})
	if err != nil {
		t.Fatalf("new writes never used the new key %s: %v", newKey, err)
	}
	if raw := etcdRaw(t, ctx, a, "/registry/secrets/default/sealed"); !bytes.HasPrefix(raw, []byte("k8s:enc:secretbox:v1:"+oldKey+":")) {
		t.Fatalf("a Secret not written since is stored as %q…, want still under %s", raw[:min(len(raw), 40)], oldKey)
	}
	readSealed(t, ctx, tenant)

	// Step 2: rewrite every Secret (kubectl get secrets -A -o json | kubectl replace -f -).
	list, err := tenant.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range list.Items {
		// A controller may write one meanwhile: read it again and retry, as an admin would.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s, err := tenant.CoreV1().Secrets(item.Namespace).Get(ctx, item.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			_, err = tenant.CoreV1().Secrets(item.Namespace).Update(ctx, s, metav1.UpdateOptions{})
			return err
		})
		if client.IgnoreNotFound(err) != nil {
			t.Fatalf("rewrite Secret %s/%s: %v", item.Namespace, item.Name, err)
		}
	}
	if raw := etcdRaw(t, ctx, a, "/registry/secrets/default/sealed"); !bytes.HasPrefix(raw, prefix) {
		t.Fatalf("after the rewrite the Secret is stored as %q…, want under %s", raw[:min(len(raw), 40)], newKey)
	}

	// Step 3: drop the old key; once the apiservers run without it, every Secret reads.
	before := apiServerTemplate(t, ctx, a).Annotations["checksum/pki"]
	editEncryptionKeys(t, ctx, a, func(keys []any) []any { return keys[:1] })
	waitAPIServerRolledOut(t, ctx, a, before)
	readSealed(t, ctx, tenant)
	if _, err := tenant.CoreV1().Secrets("default").Get(ctx, "rotation-probe", metav1.GetOptions{}); err != nil {
		t.Fatalf("read the probe Secret after the old key was dropped: %v", err)
	}
}

// editEncryptionKeys rewrites the secretbox key list of a's encryption configuration with
// edit, as an admin following the docs would, and returns the name of the key that was
// first before.
func editEncryptionKeys(t *testing.T, ctx context.Context, a *v1alpha1.TenantCluster, edit func([]any) []any) string {
	t.Helper()
	name := controlplane.EncryptionConfigSecret.Name(a.Name)
	s, err := clients.CoreV1().Secrets(controlplane.NamespaceOf(a)).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(s.Data[controlplane.EncryptionConfigKey], &cfg); err != nil {
		t.Fatal(err)
	}
	secretbox := cfg["resources"].([]any)[0].(map[string]any)["providers"].([]any)[0].(map[string]any)["secretbox"].(map[string]any)
	keys := secretbox["keys"].([]any)
	first := keys[0].(map[string]any)["name"].(string)
	secretbox["keys"] = edit(keys)
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Data[controlplane.EncryptionConfigKey] = out
	if _, err := clients.CoreV1().Secrets(s.Namespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update %s: %v", name, err)
	}
	return first
}

func readSealed(t *testing.T, ctx context.Context, tenant kubernetes.Interface) {
	t.Helper()
	s, err := tenant.CoreV1().Secrets("default").Get(ctx, "sealed", metav1.GetOptions{})
	if err != nil || string(s.Data["password"]) != "the-plain-text-must-not-be-in-etcd" {
		t.Fatalf("read Secret sealed through the tenant's API: %v", err)
	}
}

func apiServerTemplate(t *testing.T, ctx context.Context, a *v1alpha1.TenantCluster) metav1.ObjectMeta {
	t.Helper()
	d, err := clients.AppsV1().Deployments(controlplane.NamespaceOf(a)).Get(ctx, controlplane.APIServer.ObjectName(a.Name), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Template.ObjectMeta
}

// waitAPIServerRolledOut waits until the manager has rolled a's apiservers past the PKI
// checksum before (it covers the encryption configuration) and they are all available.
func waitAPIServerRolledOut(t *testing.T, ctx context.Context, a *v1alpha1.TenantCluster, before string) {
	t.Helper()
	name := controlplane.APIServer.ObjectName(a.Name)
	var last string
	err := wait.PollUntilContextTimeout(ctx, 2*time.Second, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := clients.AppsV1().Deployments(controlplane.NamespaceOf(a)).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		want := ptr.Deref(d.Spec.Replicas, 1)
		st := d.Status
		last = fmt.Sprintf("checksum changed %t, generation %d observed %d, %d updated, %d available, %d total of %d",
			d.Spec.Template.Annotations["checksum/pki"] != before, d.Generation, st.ObservedGeneration, st.UpdatedReplicas, st.AvailableReplicas, st.Replicas, want)
		return d.Spec.Template.Annotations["checksum/pki"] != before && st.ObservedGeneration == d.Generation &&
			st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want, nil
	})
	if err != nil {
		t.Fatalf("apiserver Deployment %s not rolled out: %s: %v", name, last, err)
	}
}
