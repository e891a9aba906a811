package testenv

import (
	"bytes"
	"encoding/json"
	"testing"
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
