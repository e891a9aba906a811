//go:build envtest

package bootstrap

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// The integration tests stand in envtest's kube-apiserver and etcd for a fresh tenant:
// started as kubeseed starts a tenant's (bootstrap token authentication, the Node and
// RBAC authorizers), with no controller-manager. What the bootstrapsigner, tokencleaner
// and csrapprover would do is checked through the permissions they rely on.
var (
	tenantOnce sync.Once
	tenantEnv  *envtest.Environment
	tenantCfg  *rest.Config
	tenantErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if tenantEnv != nil {
		if err := tenantEnv.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stop envtest: %v\n", err)
		}
	}
	os.Exit(code)
}

// tenant starts the shared apiserver on first use, so the unit tests need none.
func tenant(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, which builds kube-apiserver and etcd offline")
	}
	tenantOnce.Do(func() {
		tenantEnv = &envtest.Environment{}
		tenantEnv.ControlPlane.GetAPIServer().Configure().
			Set("enable-bootstrap-token-auth", "true").
			Set("authorization-mode", "Node,RBAC")
		tenantCfg, tenantErr = tenantEnv.Start()
	})
	if tenantErr != nil {
		t.Fatalf("start envtest: %v", tenantErr)
	}
	c, err := client.New(tenantCfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return tenantCfg, c
}

func tenantInputs(cfg *rest.Config) Inputs {
	return Inputs{
		Endpoint:    cfg.Host,
		CAPEM:       cfg.CAData,
		Version:     "v1.36.3",
		ClusterName: "acme",
		Network:     v1alpha1.NetworkSpec{ServiceCIDR: "10.0.0.0/24", PodCIDR: "10.244.0.0/16", DNSDomain: "cluster.local"},
	}
}

func clientset(t *testing.T, cfg *rest.Config) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestKubeadmJoinAgainstTenant applies the bootstrap objects and a token, then walks
// through `kubeadm join` as the joining node would: anonymously, then with the token, then
// as the node it became.
func TestKubeadmJoinAgainstTenant(t *testing.T) {
	cfg, c := tenant(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	objs, err := Objects(tenantInputs(cfg))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewToken(10*time.Minute, "envtest worker")
	if err != nil {
		t.Fatal(err)
	}
	// An expired token: the authenticator itself refuses it, tokencleaner or not.
	expired, err := newToken(time.Now().Add(-2*time.Hour), rand.Reader, time.Hour, "expired")
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, c, "kubeseed", append(objs, tok.Secret(), expired.Secret())...); err != nil {
		t.Fatal(err)
	}

	// Discovery: cluster-info, anonymously, and a client built from it alone.
	anonymous := clientset(t, rest.AnonymousClientConfig(cfg))
	cm, err := anonymous.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("anonymous get of cluster-info: %v", err)
	}
	info, err := clientcmd.Load([]byte(cm.Data["kubeconfig"]))
	if err != nil || info.Clusters[""] == nil {
		t.Fatalf("cluster-info kubeconfig: %v, clusters %v", err, info)
	}
	if _, err := anonymous.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("anonymous get of kubeadm-config: %v, want Forbidden", err)
	}
	// kubeadm's TLS bootstrap client: cluster-info's server and CA, the token as bearer.
	discovered := info.Clusters[""]
	withToken := func(token string) *rest.Config {
		return &rest.Config{Host: discovered.Server, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAData: discovered.CertificateAuthorityData}}
	}
	bootstrap := clientset(t, withToken(tok.Reveal()))

	// The authenticator reads token Secrets through an informer: wait for it.
	var user authenticationv1.UserInfo
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		r, err := bootstrap.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return false, nil
		}
		user = r.Status.UserInfo
		return true, nil
	})
	if err != nil {
		t.Fatalf("the bootstrap token never authenticated: %v", err)
	}
	if user.Username != "system:bootstrap:"+tok.ID || !slices.Contains(user.Groups, NodeBootstrapTokenGroup) || !slices.Contains(user.Groups, "system:bootstrappers") {
		t.Fatalf("the token authenticates as %s in %v", user.Username, user.Groups)
	}
	_, err = clientset(t, withToken(expired.Reveal())).CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("an expired token: %v, want Unauthorized", err)
	}

	checkConfigMaps(ctx, t, bootstrap, "bootstrap token")
	// kubeadm join looks for a Node of its name before starting the kubelet.
	if _, err := bootstrap.CoreV1().Nodes().Get(ctx, "worker-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("bootstrap token get of Node worker-1: %v, want NotFound", err)
	}
	// The kubelet's TLS bootstrap: a CSR for its client certificate.
	csr := nodeClientCSR(t, "worker-1")
	if _, err := bootstrap.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{}); err != nil {
		t.Errorf("bootstrap token create of a node client CSR: %v", err)
	}
	if _, err := bootstrap.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("bootstrap token list of kube-system Secrets: %v, want Forbidden", err)
	}

	// The csrapprover approves a CSR when its requester may create this subresource.
	admin := clientset(t, cfg)
	approvals := []struct {
		user        string
		groups      []string
		subresource string
		want        bool
	}{
		{user.Username, user.Groups, "nodeclient", true},
		{"system:node:worker-1", []string{"system:nodes", "system:authenticated"}, "selfnodeclient", true},
		{"system:node:worker-1", []string{"system:nodes", "system:authenticated"}, "nodeclient", false},
		{"alice", []string{"system:authenticated"}, "nodeclient", false},
	}
	for _, a := range approvals {
		sar, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: a.user, Groups: a.groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Group: "certificates.k8s.io", Resource: "certificatesigningrequests", Subresource: a.subresource, Verb: "create"},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != a.want {
			t.Errorf("csrapprover's check for %s on %s: allowed %v, want %v (%s)", a.user, a.subresource, sar.Status.Allowed, a.want, sar.Status.Reason)
		}
	}

	// The node, once its client certificate is issued.
	if err := c.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}}); err != nil {
		t.Fatal(err)
	}
	nodeCfg := rest.CopyConfig(cfg)
	nodeCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:node:worker-1", Groups: []string{"system:nodes", "system:authenticated"}}
	node := clientset(t, nodeCfg)
	if _, err := node.CoreV1().Nodes().Get(ctx, "worker-1", metav1.GetOptions{}); err != nil {
		t.Errorf("system:node:worker-1 get of its Node: %v", err)
	}
	checkConfigMaps(ctx, t, node, "system:node:worker-1")
}

// checkConfigMaps reads what kubeadm join reads from kube-system, as who.
func checkConfigMaps(ctx context.Context, t *testing.T, cs *kubernetes.Clientset, who string) {
	t.Helper()
	kubeadm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubeadm-config", metav1.GetOptions{})
	if err != nil {
		t.Errorf("%s get of kubeadm-config: %v", who, err)
	} else if cc := (clusterConfiguration{}); yaml.UnmarshalStrict([]byte(kubeadm.Data["ClusterConfiguration"]), &cc) != nil || cc.ControlPlaneEndpoint == "" {
		t.Errorf("%s: kubeadm-config holds %q", who, kubeadm.Data)
	}
	kubelet, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "kubelet-config", metav1.GetOptions{})
	if err != nil {
		t.Errorf("%s get of kubelet-config: %v", who, err)
	} else if kc := (kubeletv1beta1.KubeletConfiguration{}); yaml.UnmarshalStrict([]byte(kubelet.Data["kubelet"]), &kc) != nil || kc.ClusterDNS[0] != "10.0.0.10" {
		t.Errorf("%s: kubelet-config holds %q", who, kubelet.Data)
	}
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("%s get of another kube-system ConfigMap: %v, want Forbidden", who, err)
	}
}

// nodeClientCSR is what the kubelet posts with its bootstrap credential.
func nodeClientCSR(t *testing.T, node string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "node-csr-"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientKubeletSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
}

// TestApplyIsIdempotent: applying the same objects again, freshly computed, writes
// nothing; the bootstrapsigner's signature in cluster-info survives kubeseed's applies;
// a new endpoint rewrites exactly the two objects that hold it.
func TestApplyIsIdempotent(t *testing.T) {
	cfg, c := tenant(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := tenantInputs(cfg)
	tok, err := NewToken(time.Hour, "idempotence")
	if err != nil {
		t.Fatal(err)
	}
	apply := func(in Inputs) {
		t.Helper()
		objs, err := Objects(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := Apply(ctx, c, "kubeseed", append(objs, tok.Secret())...); err != nil {
			t.Fatal(err)
		}
	}
	versions := func() map[string]string {
		t.Helper()
		objs, err := Objects(in)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, o := range append(objs, tok.Secret()) {
			live := o.DeepCopyObject().(client.Object)
			if err := c.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
				t.Fatal(err)
			}
			out[objectKey(o)] = live.GetResourceVersion()
		}
		return out
	}
	changed := func(before, after map[string]string) []string {
		var out []string
		for k, v := range after {
			if before[k] != v {
				out = append(out, k)
			}
		}
		slices.Sort(out)
		return out
	}

	apply(in)
	// The bootstrapsigner writes its signatures with an update, as its own manager.
	info := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "kube-public", Name: "cluster-info"}, info); err != nil {
		t.Fatal(err)
	}
	info.Data["jws-kubeconfig-"+tok.ID] = "signature"
	if err := c.Update(ctx, info, client.FieldOwner("kube-controller-manager")); err != nil {
		t.Fatal(err)
	}

	first := versions()
	apply(in)
	if got := changed(first, versions()); len(got) != 0 {
		t.Errorf("a second apply of the same objects changed %v", got)
	}

	in.Endpoint = "https://192.0.2.77:31000"
	apply(in)
	// The first endpoint (envtest's loopback) gave the `kubernetes` Service no endpoints.
	want := []string{"ConfigMap kube-public/cluster-info", "ConfigMap kube-system/kubeadm-config", "EndpointSlice default/kubernetes", "Endpoints default/kubernetes"}
	if got := changed(first, versions()); !slices.Equal(got, want) {
		t.Errorf("a new endpoint changed %v, want %v", got, want)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "kube-public", Name: "cluster-info"}, info); err != nil {
		t.Fatal(err)
	}
	if info.Data["jws-kubeconfig-"+tok.ID] != "signature" {
		t.Errorf("kubeseed's apply removed the bootstrapsigner's signature: %v", info.Data)
	}
}
