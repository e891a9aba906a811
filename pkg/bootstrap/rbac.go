package bootstrap

import (
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Groups and built-in ClusterRoles the join RBAC refers to. The ClusterRoles are made by
// every kube-apiserver at start (its bootstrap RBAC policy).
const (
	// NodesGroup is the group of every kubelet's client certificate.
	NodesGroup = "system:nodes"
	// NodeUserPrefix prefixes a node's name to make its user, system:node:<name>.
	NodeUserPrefix = "system:node:"

	nodeBootstrapperRole  = "system:node-bootstrapper"
	nodeClientApproveRole = "system:certificates.k8s.io:certificatesigningrequests:nodeclient"
	selfNodeClientRole    = "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient"
)

// Names of the RBAC objects, as kubeadm v1.36 names them (cmd/kubeadm/app/constants), so
// that `kubeadm upgrade` or a person used to kubeadm finds them where expected.
const (
	kubeletBootstrapBinding = "kubeadm:kubelet-bootstrap"
	getNodesRole            = "kubeadm:get-nodes"
	autoApproveBootstrap    = "kubeadm:node-autoapprove-bootstrap"
	autoApproveRotation     = "kubeadm:node-autoapprove-certificate-rotation"
	nodesKubeadmConfigRole  = "kubeadm:nodes-kubeadm-config"
	kubeletConfigRole       = "kubeadm:kubelet-config"
)

const (
	clusterRoleKind    = "ClusterRole"
	roleKind           = "Role"
	rbacAPIVersion     = "rbac.authorization.k8s.io/v1"
	configMapsResource = "configmaps"
	nodesResource      = "nodes"
	verbGet            = "get"
	coreGroup          = ""
)

// joinRBAC is the RBAC `kubeadm init` makes for joining nodes (phases bootstraptoken,
// uploadconfig and kubelet), bound to kubeadm's token group as kubeadm binds it and to
// kubeseed's (JoinGroups):
//   - bootstrap tokens may post CSRs (system:node-bootstrapper), and get nodes (kubeadm
//     join looks for a Node of its name before it starts the kubelet);
//   - the kube-controller-manager's csrapprover approves a token's node client CSR
//     (nodeclient) and a node's renewal of its own (selfnodeclient);
//   - tokens and nodes may read the kubeadm-config and kubelet-config ConfigMaps.
func joinRBAC() []client.Object {
	var tokens []rbacv1.Subject
	for _, g := range JoinGroups() {
		tokens = append(tokens, groupSubject(g))
	}
	nodes := groupSubject(NodesGroup)
	return []client.Object{
		clusterRoleBinding(kubeletBootstrapBinding, nodeBootstrapperRole, tokens...),
		&rbacv1.ClusterRole{
			TypeMeta:   metav1.TypeMeta{APIVersion: rbacAPIVersion, Kind: clusterRoleKind},
			ObjectMeta: metav1.ObjectMeta{Name: getNodesRole, Labels: managedLabels()},
			Rules:      []rbacv1.PolicyRule{{Verbs: []string{verbGet}, APIGroups: []string{coreGroup}, Resources: []string{nodesResource}}},
		},
		clusterRoleBinding(getNodesRole, getNodesRole, tokens...),
		clusterRoleBinding(autoApproveBootstrap, nodeClientApproveRole, tokens...),
		clusterRoleBinding(autoApproveRotation, selfNodeClientRole, nodes),
		role(metav1.NamespaceSystem, nodesKubeadmConfigRole, getConfigMap(KubeadmConfigConfigMap)),
		roleBinding(metav1.NamespaceSystem, nodesKubeadmConfigRole, append(slices.Clone(tokens), nodes)...),
		role(metav1.NamespaceSystem, kubeletConfigRole, getConfigMap(KubeletConfigConfigMap)),
		roleBinding(metav1.NamespaceSystem, kubeletConfigRole, append([]rbacv1.Subject{nodes}, tokens...)...),
	}
}

func groupSubject(name string) rbacv1.Subject {
	// APIGroup is set although the apiserver would default it: an applied object equal to
	// the stored one keeps a second apply from writing.
	return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: name}
}

func getConfigMap(name string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{verbGet}, APIGroups: []string{coreGroup}, Resources: []string{configMapsResource}, ResourceNames: []string{name}}
}

func clusterRoleBinding(name, clusterRole string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacAPIVersion, Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: managedLabels()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: clusterRoleKind, Name: clusterRole},
		Subjects:   subjects,
	}
}

func role(namespace, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacAPIVersion, Kind: roleKind},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: managedLabels()},
		Rules:      rules,
	}
}

// roleBinding binds the Role of the same name.
func roleBinding(namespace, name string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbacAPIVersion, Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: managedLabels()},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: roleKind, Name: name},
		Subjects:   subjects,
	}
}
