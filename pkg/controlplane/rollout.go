package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Annotations kubeseed stamps on each control-plane workload it renders (on the workload,
// not its pod template, so they roll nothing themselves).
const (
	// ReleaseAnnotation is the kubeseed release that rendered the workload.
	ReleaseAnnotation = "kubeseed.io/release"
	// TemplateHashAnnotation digests the workload's pod template as rendered: a render with
	// another hash rolls its pods.
	TemplateHashAnnotation = "kubeseed.io/template-hash"
)

// Stamp is what a workload carries of the render that made it.
type Stamp struct{ Release, Hash string }

// StampWorkloads stamps each Deployment and StatefulSet of objs with release and the hash
// of its pod template, and returns the stamps by workload name.
func StampWorkloads(objs []*unstructured.Unstructured, release string) (map[string]Stamp, error) {
	out := map[string]Stamp{}
	for _, o := range objs {
		if o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet" {
			continue
		}
		tmpl, _, err := unstructured.NestedMap(o.Object, "spec", "template")
		if err != nil {
			return nil, fmt.Errorf("pod template of %s %s: %w", o.GetKind(), o.GetName(), err)
		}
		b, err := json.Marshal(tmpl) // map keys sorted: the same template, the same bytes
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		st := Stamp{Release: release, Hash: hex.EncodeToString(sum[:8])}
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a[ReleaseAnnotation], a[TemplateHashAnnotation] = st.Release, st.Hash
		o.SetAnnotations(a)
		out[o.GetName()] = st
	}
	return out, nil
}

// OperatorRollouts names the live workloads the desired render would roll although the
// change is not the tenant's: their pod template changes and another release (or one before
// stamps, an empty one) rendered them. Workloads that do not exist yet roll nothing.
func OperatorRollouts(live, desired map[string]Stamp, release string) []string {
	var out []string
	for name, d := range desired {
		l, ok := live[name]
		if ok && l.Hash != d.Hash && l.Release != release {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
