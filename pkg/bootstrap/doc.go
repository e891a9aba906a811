// Package bootstrap describes what `kubeadm init` leaves behind inside a cluster, so that
// stock `kubeadm join` works against a tenant whose control plane kubeseed runs as pods:
// the cluster-info ConfigMap and the RBAC that exposes it, the RBAC of bootstrap tokens and
// of node certificate auto-approval, the kubeadm-config and kubelet-config ConfigMaps, and
// per worker a bootstrap token. It also holds the node-side rules kubeseed enforces itself:
// which kubelet serving certificate requests to approve, and how much of a worker the
// kubelet keeps back from pods (docs/workers.md).
//
// Everything is pure except Apply, which server-side applies the objects to a tenant's
// API server. Names and rules follow kubeadm v1.36, so a cluster bootstrapped here looks
// to kubeadm like one it made.
//
// This package is internal to kubeseed: no compatibility guarantee.
package bootstrap
