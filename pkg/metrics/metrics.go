// Package metrics defines kubeseed's Prometheus metrics and collects them, on
// controller-runtime's registry (sigs.k8s.io/controller-runtime/pkg/metrics.Registry), which
// the manager serves on /metrics beside controller-runtime's own workqueue and reconcile
// metrics. docs/metrics.md describes every metric.
//
// State is read from the manager's cache when Prometheus scrapes (TenantClusters and
// cert-manager Certificates, no API call per scrape); the time to the first Ready is
// observed from an event handler on the TenantCluster informer; the etcd database sizes are
// polled in the background, never inside a scrape. The reconcile-error counter is the one
// thing a controller writes: it calls RecordReconcileError.
//
// This package is internal to kubeseed: no compatibility guarantee.
package metrics

import (
	"context"
	"errors"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// The names of kubeseed's metrics.
const (
	// TenantClustersName is a gauge of TenantClusters by phase.
	TenantClustersName = "kubeseed_tenant_clusters"
	// TimeToFirstReadyName is a histogram of the seconds from a TenantCluster's creation to
	// its first Ready=True.
	TimeToFirstReadyName = "kubeseed_tenant_cluster_time_to_first_ready_seconds"
	// ReconcileErrorsName counts the errors reconciles returned, by controller and reason.
	ReconcileErrorsName = "kubeseed_reconcile_errors_total"
	// ComponentReadyName is 1 while a tenant's control-plane component is available, else 0.
	ComponentReadyName = "kubeseed_tenant_component_ready"
	// CertificateExpiresInName is the seconds until a tenant certificate expires.
	CertificateExpiresInName = "kubeseed_tenant_certificate_expires_in_seconds"
	// EtcdDBSizeName is the size of a tenant's etcd database in bytes.
	EtcdDBSizeName = "kubeseed_tenant_etcd_db_size_bytes"
	// EtcdBackupAgeName is the time since a tenant's last etcd backup was taken.
	EtcdBackupAgeName = "kubeseed_tenant_etcd_backup_age_seconds"
	// EtcdBackupSizeName is the stored size of a tenant's last etcd backup.
	EtcdBackupSizeName = "kubeseed_tenant_etcd_backup_size_bytes"
	// EtcdStatusErrorsName counts the polls of a tenant's etcd that failed.
	EtcdStatusErrorsName = "kubeseed_tenant_etcd_status_errors_total"
)

// TenantClusterController is the name controller-runtime gives the TenantCluster controller
// (the lower-cased kind): the value of the controller label of kubeseed_reconcile_errors_total
// and of controller-runtime's controller_runtime_* and workqueue_* metrics.
const TenantClusterController = "tenantcluster"

// The reasons of kubeseed_reconcile_errors_total: a small fixed set, so that the counter's
// cardinality stays controllers × 9.
const (
	// ReasonTerminal: a reconcile.TerminalError, a spec that cannot be realised; not retried.
	ReasonTerminal = "terminal"
	// ReasonCanceled: the context was canceled, usually the manager shutting down.
	ReasonCanceled = "canceled"
	// ReasonTimeout: a deadline passed, or the API server answered with a timeout.
	ReasonTimeout = "timeout"
	// ReasonConflict: someone else wrote the object first (409); the retry usually passes.
	ReasonConflict = "conflict"
	// ReasonNotFound: something the reconcile needed is gone (404).
	ReasonNotFound = "not_found"
	// ReasonForbidden: the API server refused the manager's credentials or RBAC (401, 403).
	ReasonForbidden = "forbidden"
	// ReasonInvalid: the API server refused an object as invalid (400, 422).
	ReasonInvalid = "invalid"
	// ReasonUnavailable: the API server or the network failed (5xx, 429, connection errors).
	ReasonUnavailable = "unavailable"
	// ReasonOther: anything else.
	ReasonOther = "other"
)

// Reasons lists every reason, in the order Reason tries them.
func Reasons() []string {
	return []string{
		ReasonTerminal, ReasonCanceled, ReasonTimeout, ReasonConflict, ReasonNotFound,
		ReasonForbidden, ReasonInvalid, ReasonUnavailable, ReasonOther,
	}
}

// Reason classifies a reconcile error into one of Reasons. nil is "".
func Reason(err error) string {
	var netErr net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, reconcile.TerminalError(nil)):
		return ReasonTerminal
	case errors.Is(err, context.Canceled):
		return ReasonCanceled
	case errors.Is(err, context.DeadlineExceeded), apierrors.IsTimeout(err), apierrors.IsServerTimeout(err):
		return ReasonTimeout
	case apierrors.IsConflict(err), apierrors.IsAlreadyExists(err):
		return ReasonConflict
	case apierrors.IsNotFound(err), apierrors.IsGone(err):
		return ReasonNotFound
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return ReasonForbidden
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err), apierrors.IsRequestEntityTooLargeError(err):
		return ReasonInvalid
	case apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsTooManyRequests(err),
		apierrors.IsUnexpectedServerError(err):
		return ReasonUnavailable
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return ReasonTimeout
		}
		return ReasonUnavailable
	}
	return ReasonOther
}

// reconcileErrors is the one package-level metric: controllers write it through
// RecordReconcileError, without a handle to pass around. SetupWithManager registers it.
var reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: ReconcileErrorsName,
	Help: "Errors returned by reconciles, by controller and reason (terminal, canceled, timeout, conflict, " +
		"not_found, forbidden, invalid, unavailable, other). controller_runtime_reconcile_errors_total counts " +
		"the same errors without the reason.",
}, []string{"controller", "reason"})

// RecordReconcileError counts err, when not nil, under the controller's name and its
// Reason. Controllers call it once per Reconcile with the error Reconcile returns.
func RecordReconcileError(controller string, err error) {
	if err == nil {
		return
	}
	reconcileErrors.WithLabelValues(controller, Reason(err)).Inc()
}
