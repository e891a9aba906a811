package controlplane

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// defaultResources are each component's requests, and limits, when the spec says nothing.
// One replica of everything requests about one CPU, so the smallest tenant fits a 2-core
// seed; memory leaves room above what each component was measured to use idle (apiserver
// ~280 MiB, controller-manager ~110, scheduler ~65, etcd ~50 plus its database).
var defaultResources = map[Component]corev1.ResourceList{
	Etcd:              resourceList("250m", "1Gi"),
	APIServer:         resourceList("500m", "1Gi"),
	ControllerManager: resourceList("200m", "256Mi"),
	Scheduler:         resourceList("100m", "128Mi"),
}

func resourceList(cpu, memory string) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(memory),
	}
}

// resourcesFor lays the spec's resources over the component's defaults, per resource name.
// A limit given alone brings its request along and a request given alone brings its limit,
// so the pod stays Guaranteed; given both, the spec's choice stands.
func resourcesFor(c Component, spec *corev1.ResourceRequirements) (corev1.ResourceRequirements, error) {
	limits := maps.Clone(defaultResources[c])
	requests := maps.Clone(defaultResources[c])
	if spec == nil {
		return corev1.ResourceRequirements{Limits: limits, Requests: requests}, nil
	}
	field := specPath(c) + ".resources"
	if len(spec.Claims) > 0 {
		return corev1.ResourceRequirements{}, invalid(field+".claims", "resource claims are not supported")
	}
	for name, q := range spec.Limits {
		limits[name] = q.DeepCopy()
		requests[name] = q.DeepCopy()
	}
	for name, q := range spec.Requests {
		requests[name] = q.DeepCopy()
		if _, ok := spec.Limits[name]; !ok {
			limits[name] = q.DeepCopy()
		}
	}
	for _, name := range slices.Sorted(maps.Keys(requests)) {
		req := requests[name]
		if limit, ok := limits[name]; ok && req.Cmp(limit) > 0 {
			return corev1.ResourceRequirements{}, invalid(field, "the %s request %s exceeds its limit %s", name, req.String(), limit.String())
		}
	}
	return corev1.ResourceRequirements{Limits: limits, Requests: requests}, nil
}
