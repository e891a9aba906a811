package tenantcluster

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/kubeseed/kubeseed/apis/kubeseed/v1alpha1"
	"github.com/kubeseed/kubeseed/controllers/internal/cloud"
	"github.com/kubeseed/kubeseed/pkg/backup"
	"github.com/kubeseed/kubeseed/pkg/openstack"
)

// backupStore is where a tenant's backups are: Swift in the customer's project
// (spec.cloud), else the seed's operator-wide store (docs/backups.md#an-operator-wide-store).
// Either way a tenant's objects are under backupPrefix: its namespace and name, which no
// other tenant of the seed can take at the same time.
type backupStore struct {
	objects   openstack.ObjectStore
	container string
	// where names it for messages: "Swift container x of the customer's project".
	where string
}

// storeRef says which store and container a tenant's backups use, from its spec alone:
// the operator's (container empty: the admin's) or the customer's container.
type storeRef struct {
	operator  bool
	container string
}

// say is what a tenant's owner is told of a failed backup or restore: the error, except
// that what the admin's store answered (its errors name the admin's cloud: its hosts,
// project and quota) becomes a fixed sentence, the error going to the manager's log.
func (ref storeRef) say(ctx context.Context, err error) string {
	if ref.operator && fromCloud(err) {
		log.FromContext(ctx).Error(err, "operator-wide backup store")
		return operatorStoreFailed
	}
	return openstack.CleanMessage(err.Error(), cloud.MaxMessage)
}

// fromCloud says whether err is the cloud's answer, or its silence, rather than the
// tenant's etcd's or a backup's own (a snapshot that does not verify).
func fromCloud(err error) bool {
	var api *openstack.APIError
	var quota *openstack.QuotaExceededError
	var transport *url.Error
	return errors.As(err, &api) || errors.As(err, &quota) || errors.As(err, &transport) || openstack.IsTransient(err) ||
		openstack.IsNotFound(err) || openstack.IsUnauthorized(err) || openstack.IsForbidden(err)
}

// operatorStoreFailed is all a customer learns of a failure of the admin's store.
const operatorStoreFailed = "the operator-wide backup store failed: an admin finds the cause in the kubeseed manager's log"

func backupStoreRef(tc *v1alpha1.TenantCluster, container string) storeRef {
	if tc.Spec.Cloud == nil {
		return storeRef{operator: true}
	}
	return storeRef{container: container}
}

// restoreStoreRef is where a restore's backup is: the operator-wide store for a tenant
// without spec.cloud, else spec.restore.container, else the backups' container.
func restoreStoreRef(tc *v1alpha1.TenantCluster, target v1alpha1.RestoreSpec) storeRef {
	container := backup.DefaultContainer
	if c := target.Container; c != "" {
		container = c
	} else if b := tc.Spec.ControlPlane.Etcd.Backup; b != nil {
		container = backupContainer(b)
	}
	return backupStoreRef(tc, container)
}

// openBackupStore builds the clients of the tenant's backup store; what is missing comes
// back as a check whose reason names the cause (its message is for the caller to prefix).
func (r *Reconciler) openBackupStore(ctx context.Context, s *scope, ref storeRef) (*backupStore, *check, error) {
	if ref.operator {
		return r.operatorStore(ctx)
	}
	tc := s.tc
	clients, v, err := r.copiedCloudClients(ctx, s, cloud.Ref{Namespace: tc.Namespace, Name: tc.Spec.Cloud.CredentialsSecretRef.Name})
	if clients == nil {
		if v.Reason == "" {
			return nil, nil, err // the seed's API failed: backoff
		}
		return nil, &check{reason: v.Reason, message: v.Message}, nil
	}
	if clients.ObjectStore == nil {
		return nil, &check{reason: v1alpha1.BackupFailedReason, message: "the customer's cloud has no object-store (Swift) endpoint in its catalog"}, nil
	}
	return &backupStore{objects: clients.ObjectStore, container: ref.container, where: "Swift container " + ref.container + " of the customer's project"}, nil, nil
}

// operatorStore opens the admin's store: Secret backup.StoreSecretName in the manager's
// namespace. The admin's credentials are trusted as the customers' are not: they are read
// with OperatorClouds, which no allowed-auth-URL list restricts.
func (r *Reconciler) operatorStore(ctx context.Context) (*backupStore, *check, error) {
	ns := r.managerNamespace()
	sec := &corev1.Secret{}
	if err := r.apiReader().Get(ctx, client.ObjectKey{Namespace: ns, Name: backup.StoreSecretName}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &check{reason: v1alpha1.InvalidSpecReason, message: fmt.Sprintf(
				"this seed has no operator-wide backup store (Secret %s/%s, docs/backups.md#an-operator-wide-store): a tenant without spec.cloud has no Swift for its backups; set spec.cloud, or ask the admin for the store",
				ns, backup.StoreSecretName)}, nil
		}
		return nil, nil, fmt.Errorf("read the operator-wide backup store Secret %s/%s: %w", ns, backup.StoreSecretName, err)
	}
	clouds := r.OperatorClouds
	if clouds == nil {
		clouds = r.Clouds
	}
	if clouds == nil {
		v := cloud.Unsupported("the operator-wide backup store")
		return nil, &check{reason: v.Reason, message: v.Message}, nil
	}
	clients, err := clouds.ForSecret(ctx, sec)
	if err == nil && clients.ObjectStore == nil {
		err = fmt.Errorf("the cloud of Secret %s/%s has no object-store (Swift) endpoint in its catalog", ns, backup.StoreSecretName)
	}
	if err != nil {
		// Neither the tenant's owner's to fix nor to read: the admin's cloud answered.
		log.FromContext(ctx).Error(err, "operator-wide backup store")
		return nil, &check{reason: v1alpha1.BackupFailedReason, message: operatorStoreFailed}, nil
	}
	container := strings.TrimSpace(string(sec.Data[backup.StoreContainerKey]))
	if container == "" {
		container = backup.DefaultContainer
	}
	return &backupStore{objects: clients.ObjectStore, container: container, where: "the operator-wide backup store (Swift container " + container + ")"}, nil, nil
}

// namespaceUID is the UID of the tenant's own namespace (not its control-plane namespace).
func (r *Reconciler) namespaceUID(ctx context.Context, tc *v1alpha1.TenantCluster) (string, error) {
	ns := &corev1.Namespace{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: tc.Namespace}, ns); err != nil {
		return "", fmt.Errorf("read namespace %s: %w", tc.Namespace, err)
	}
	return string(ns.UID), nil
}

// keyOfThisNamespace says whether a backup key may open a backup for a tenant of this
// namespace, beyond its name: a key that records another namespace UID is refused, and one
// that records none (made by an earlier release) is taken only for the customer's own
// store, which the customer's credentials guard. In the operator's store, shared by every
// namespace, the namespace's UID is what keeps a namespace made again for another customer
// from restoring its predecessor's data.
func (r *Reconciler) keyOfThisNamespace(ctx context.Context, ref storeRef, key *corev1.Secret, tc *v1alpha1.TenantCluster) (bool, error) {
	recorded := key.Annotations[backup.KeyNamespaceUIDAnnotation]
	if recorded == "" {
		return !ref.operator, nil
	}
	uid, err := r.namespaceUID(ctx, tc)
	return recorded == uid, err
}
