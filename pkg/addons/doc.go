// Package addons describes the addons kubeseed runs inside a tenant cluster, kube-proxy and
// CoreDNS, as the embedded chart charts/tenant-addons rendered with values computed here,
// and applies them to the tenant's API server with server-side apply, pruning what is no
// longer rendered.
//
// Addon versions are pinned per TenantCluster (Pin): they follow the Kubernetes version
// the control plane runs and nothing else, so upgrading kubeseed never changes what runs
// inside a tenant.
//
// This package is internal to kubeseed: no compatibility guarantee.
package addons
