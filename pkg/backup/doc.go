// Package backup writes a tenant's etcd backups to Swift: a full snapshot from one healthy
// member, verified against the SHA-256 trailer etcd appends, compressed and encrypted with
// the tenant's backup key as it streams; the keys a restore needs (CAs, the service-account
// key, the encryption-at-rest key) encrypted beside it; and a plain manifest written last,
// so a backup exists only once all of it is stored. Older backups are pruned by count.
//
// Run does the I/O of one backup; Runner runs them off the reconcile (a snapshot of a large
// etcd streams for minutes) and hands results back. ReadManifest, ReadKeys and ReadSnapshot
// read a backup back, confirming the manifest's claims (kubeseed backup download).
// docs/backups.md describes the format.
//
// This package is internal to kubeseed: no compatibility guarantee.
package backup
