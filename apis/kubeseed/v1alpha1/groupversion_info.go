// Package v1alpha1 holds the kubeseed.io/v1alpha1 API: TenantCluster and WorkerPool.
//
// It depends only on the standard library and k8s.io/api{,machinery}, so a Magnum driver or
// any other client can import it cheaply.
//
// +kubebuilder:object:generate=true
// +groupName=kubeseed.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "kubeseed.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &TenantCluster{}, &TenantClusterList{}, &WorkerPool{}, &WorkerPoolList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
