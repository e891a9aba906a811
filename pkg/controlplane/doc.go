// Package controlplane computes, in Go and without I/O, the values the tenant-control-plane
// chart is rendered with: flags, images, mounts, resources, checksums. It also names, in one
// place, the objects and Secrets of a TenantCluster's control plane, so the PKI, the apply
// step and the health checks agree with the chart.
//
// ValuesFor is a pure function of the TenantCluster and of what the controller observed
// (Inputs); the chart only gives those values their shape.
//
// This package is internal to kubeseed: no compatibility guarantee.
package controlplane
