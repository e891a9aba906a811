package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
)

// A TenantCluster's control plane (etcd, apiservers, controllers, their Services, PKI and
// every internal Secret) lives in a namespace of the seed that only kubeseed writes
// (HyperShift's model): a customer with rights in their own namespace can neither read the
// tenant's CA keys nor change what the manager trusts.
const (
	// NamespacePrefix starts every control-plane namespace's name.
	NamespacePrefix = "kubeseed-"
	// namespaceHashLen hex digits of SHA-256("<namespace>/<name>") end the name: they keep
	// names unique when the readable part is cut, or when two tenants' readable parts
	// collide ("a-b"/"c" and "a"/"b-c").
	namespaceHashLen = 10
	// maxNamespaceLen is a DNS label's length, the limit of a namespace's name.
	maxNamespaceLen = 63
)

// Labels of a control-plane namespace: which TenantCluster it belongs to.
const (
	LabelTenantNamespace = "kubeseed.io/tenant-namespace"
	LabelTenantName      = "kubeseed.io/tenant-name"
	LabelTenantUID       = "kubeseed.io/tenant-uid"
	// LabelControlPlane marks control-plane namespaces, so that they can be listed.
	LabelControlPlane = "kubeseed.io/control-plane"
)

// Pod Security admission labels (k8s.io/pod-security-admission/api).
const (
	podSecurityEnforce        = "pod-security.kubernetes.io/enforce"
	podSecurityEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	podSecurityRestricted     = "restricted"
)

// NamespaceName is the control-plane namespace of TenantCluster namespace/name:
// "kubeseed-<namespace>-<name>-<hash>", the readable part cut so that the whole is at most
// 63 characters, and the hash the first 10 hex digits of SHA-256("<namespace>/<name>").
// It depends on nothing but the two names, so the CLI, a Magnum driver or an admin can
// compute it; the namespace's labels say the same (LabelTenantNamespace, LabelTenantName).
func NamespaceName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	hash := hex.EncodeToString(sum[:])[:namespaceHashLen]
	readable := namespace + "-" + name
	if room := maxNamespaceLen - len(NamespacePrefix) - 1 - namespaceHashLen; len(readable) > room {
		// Both names are DNS labels, so the cut only needs no trailing '-'.
		readable = strings.TrimRight(readable[:room], "-")
	}
	return NamespacePrefix + readable + "-" + hash
}

// ValidateName refuses a TenantCluster name that cannot make its objects' and its
// control-plane namespace's names (a DNS-1035 label of at most MaxNameLength characters).
func ValidateName(name string) error {
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 || len(name) > MaxNameLength {
		return invalid("metadata.name", "must be a DNS-1035 label of at most %d characters", MaxNameLength)
	}
	return nil
}

// NamespaceOf is tc's control-plane namespace.
func NamespaceOf(tc *v1alpha1.TenantCluster) string { return NamespaceName(tc.Namespace, tc.Name) }

// Namespace is the Namespace object of tc's control plane: labelled with its
// tenant and with Pod Security `restricted` enforced (the chart's pods comply; a unit test
// checks them with the admission library).
func Namespace(tc *v1alpha1.TenantCluster) *corev1.Namespace {
	return &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{
			Name: NamespaceOf(tc),
			Labels: map[string]string{
				LabelPartOf:               PartOf,
				LabelControlPlane:         "true",
				LabelTenantNamespace:      tc.Namespace,
				LabelTenantName:           tc.Name,
				LabelTenantUID:            string(tc.UID),
				podSecurityEnforce:        podSecurityRestricted,
				podSecurityEnforceVersion: "latest",
			},
		},
	}
}
