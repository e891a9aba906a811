"""OpenStack Magnum driver for kubeseed: Magnum clusters as TenantClusters and WorkerPools.

Magnum (15.0.1, Zed) loads kubeseed_magnum.driver:Driver through the entry point
magnum.drivers/k8s_kubeseed_v1. mapping holds the pure translation, seed the calls to the
seed cluster, driver the Magnum side. See README.md next to this package.
"""
