package bootstrap

import (
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Names kubeadm gives the cluster-info ConfigMap, its key, and the RBAC exposing it.
const (
	ClusterInfoConfigMap = "cluster-info"
	ClusterInfoKey       = "kubeconfig"
	// clusterInfoRole is kubeadm's BootstrapSignerClusterRoleName, a Role despite its name.
	clusterInfoRole = "kubeadm:bootstrap-signer-clusterinfo"
	// anonymousUser is the user of unauthenticated requests.
	anonymousUser = "system:anonymous"
)

// ClusterInfo is the cluster-info ConfigMap in kube-public: a kubeconfig holding only the
// cluster, with server the published endpoint (https URL) and the cluster CA, no
// credentials. `kubeadm join` fetches it anonymously and trusts it once it checks a JWS
// signature made with its bootstrap token: the tenant's kube-controller-manager adds one
// per token (jws-kubeconfig-<id>) when run with the bootstrapsigner controller. A
// server-side apply of this object leaves those keys to the signer.
func ClusterInfo(server string, caPEM []byte) (*corev1.ConfigMap, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("cluster-info: server %q is not an https URL", server)
	}
	if _, err := certutil.ParseCertsPEM(caPEM); err != nil {
		return nil, fmt.Errorf("cluster-info: CA certificate: %w", err)
	}
	// The cluster is unnamed, as kubeadm writes it: its discovery takes the cluster named
	// "" before looking at contexts, and this kubeconfig has none.
	kubeconfig, err := clientcmd.Write(clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{"": {Server: server, CertificateAuthorityData: caPEM}},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster-info: write kubeconfig: %w", err)
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: ClusterInfoConfigMap, Namespace: metav1.NamespacePublic, Labels: managedLabels()},
		Data:       map[string]string{ClusterInfoKey: string(kubeconfig)},
	}, nil
}

// clusterInfoRBAC lets anyone, unauthenticated, get cluster-info and nothing else: the
// joining node has no credential it can use before it trusts the cluster.
func clusterInfoRBAC() []client.Object {
	return []client.Object{
		role(metav1.NamespacePublic, clusterInfoRole, getConfigMap(ClusterInfoConfigMap)),
		roleBinding(metav1.NamespacePublic, clusterInfoRole, userSubject(anonymousUser)),
	}
}

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}
