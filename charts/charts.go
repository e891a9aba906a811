// Package charts embeds the Helm charts kubeseed renders in-process (see pkg/render) or
// installs with Helm's SDK.
//
// The charts are compiled into the manager binary so that a render never depends on files
// next to it, and a chart change ships together with the Go code that computes its values.
package charts

import (
	"embed"
	"io/fs"
)

// The all: prefix matters: a plain directory pattern silently drops files whose names start
// with "_" or ".", such as templates/_helpers.tpl (golang/go#44393).
//
//go:embed all:tenant-control-plane all:kubeseed all:tenant-addons all:worker-cloud-init
var files embed.FS

// TenantControlPlane is the tenant-control-plane chart, rooted at its Chart.yaml: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler of one TenantCluster, with
// their Services, PodDisruptionBudgets and NetworkPolicies. Its values are computed by
// pkg/controlplane.ValuesFor.
var TenantControlPlane = sub(files, "tenant-control-plane")

// TenantAddons is the tenant-addons chart, rooted at its Chart.yaml: kube-proxy and CoreDNS
// inside a tenant (and the tunnel agent, when enabled). Its values are computed by
// pkg/addons.ValuesFor; kubeseed applies the objects to the tenant's own API server.
var TenantAddons = sub(files, "tenant-addons")

// WorkerCloudInit is the worker-cloud-init template, rooted at its Chart.yaml: the
// #cloud-config user_data of a WorkerPool's servers. Its values are computed by
// pkg/bootstrap.WorkerUserData, which renders it to text (not to objects).
var WorkerCloudInit = sub(files, "worker-cloud-init")

// Kubeseed is the operator's own install chart, rooted at its Chart.yaml: the CRDs (crds/),
// the manager Deployment, its metrics Service and optional ServiceMonitor, and RBAC whose
// ClusterRole rules come from the +kubebuilder:rbac markers in controllers/ (files/role.yaml,
// copied by `make manifests`). It is meant for Helm's install action (CRDs included);
// pkg/render renders its templates only, since Helm applies crds/ apart from them.
var Kubeseed = sub(files, "kubeseed")

// sub roots fsys at dir. fs.Sub fails only on an invalid path, which a constant cannot be.
func sub(fsys fs.FS, dir string) fs.FS {
	s, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err)
	}
	return s
}
