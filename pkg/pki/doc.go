// Package pki describes, as cert-manager objects, the whole PKI of one TenantCluster, and
// assembles the kubeconfigs of its control plane from the Secrets cert-manager issues.
//
// Everything here is pure: Objects turns a TenantCluster and its published endpoint into
// Issuers and Certificates, the kubeconfig helpers turn issued Secrets into kubeconfig
// Secrets, and Ready and Expiry read a Certificate's status. The controller applies,
// lists and deletes; this package never talks to an API server.
//
// Secret names, keys and component names come from pkg/controlplane, so the Secrets
// issued here are exactly the ones the tenant-control-plane chart mounts.
//
// This package is internal to kubeseed: no compatibility guarantee.
package pki
