package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestMutatorIsReproducibleAndMutates(t *testing.T) {
	corpus := [][]byte{
		[]byte(`{"endpoint":{"type":"NodePort"},"controlPlane":{"etcd":{"replicas":1,"storage":{"size":"1Gi"}}}}`),
		[]byte(`{"clusterName":"acme","replicas":2,"flavor":"m1.small"}`),
		[]byte(`not json`),
	}
	a, b := NewMutator(42, corpus), NewMutator(42, corpus)
	changed := 0
	for range 200 {
		x, y := a.Next(), b.Next()
		if !bytes.Equal(x, y) {
			t.Fatalf("same seed, different inputs: %s vs %s", x, y)
		}
		var v any
		if err := json.Unmarshal(x, &v); err != nil {
			t.Fatalf("mutated input %s is not JSON: %v", x, err)
		}
		if !bytes.Equal(x, corpus[0]) && !bytes.Equal(x, corpus[1]) {
			changed++
		}
	}
	if changed < 150 {
		t.Errorf("only %d of 200 inputs differ from the corpus", changed)
	}
}

func TestNamesAField(t *testing.T) {
	gk := schema.GroupKind{Group: "kubeseed.io", Kind: "TenantCluster"}
	cases := []struct {
		err  error
		want bool
	}{
		{apierrors.NewInvalid(gk, "x", field.ErrorList{field.Invalid(field.NewPath("spec", "version"), "v9", "unsupported")}), true},
		{errors.New(`TenantCluster.kubeseed.io "x" is invalid: spec.controlPlane.etcd.replicas: Invalid value: 2`), true},
		{errors.New(`json: cannot unmarshal string into Go struct field TenantClusterSpec.spec.replicas of type int32`), true},
		{apierrors.NewBadRequest("the server rejected our request for an unknown reason"), false},
		{errors.New("spec is bad"), false},
	}
	for _, c := range cases {
		if got := namesAField(c.err); got != c.want {
			t.Errorf("namesAField(%q) = %t, want %t", c.err, got, c.want)
		}
	}
}
