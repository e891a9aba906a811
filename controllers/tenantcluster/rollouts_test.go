package tenantcluster

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestRolloutSlots(t *testing.T) {
	var s rolloutSlots
	steps := []struct {
		op   string
		uid  types.UID
		max  int
		want bool
	}{
		{"acquire", "a", 2, true},
		{"acquire", "b", 2, true},
		{"acquire", "c", 2, false}, // both slots taken
		{"acquire", "a", 2, true},  // a holder keeps its slot
		{"release", "a", 0, false},
		{"acquire", "c", 2, true},  // a's slot
		{"acquire", "d", 0, true},  // no bound
		{"acquire", "e", 1, false}, // over the bound: three hold already
	}
	for i, st := range steps {
		switch st.op {
		case "acquire":
			if got := s.acquire(st.uid, st.max, time.Unix(int64(i), 0)); got != st.want {
				t.Fatalf("step %d: acquire(%s, %d) = %v, want %v", i, st.uid, st.max, got, st.want)
			}
		case "release":
			s.release(st.uid)
		}
	}
	if holding, waiting := s.counts(); holding != 3 || waiting != 1 {
		t.Errorf("holding %d, waiting %d; want 3 (b, c, d) and 1 (e)", holding, waiting)
	}
	if s.holds("a") || !s.holds("c") || !s.heldSince("c").Equal(time.Unix(5, 0)) {
		t.Errorf("holds(a) %v, holds(c) %v since %v", s.holds("a"), s.holds("c"), s.heldSince("c"))
	}
}

// A holder that never comes back to release gives its slot up after the timeout.
func TestRolloutSlotsExpire(t *testing.T) {
	var s rolloutSlots
	t0 := time.Unix(0, 0)
	if !s.acquire("stuck", 1, t0) {
		t.Fatal("first acquire refused")
	}
	if s.acquire("next", 1, t0.Add(rolloutSlotTimeout-time.Second)) {
		t.Fatal("the slot was given away before the timeout")
	}
	if !s.acquire("next", 1, t0.Add(rolloutSlotTimeout)) || s.holds("stuck") {
		t.Fatal("the stuck holder kept its slot past the timeout")
	}
	s.notWaiting("next")
	if holding, waiting := s.counts(); holding != 1 || waiting != 0 {
		t.Errorf("holding %d, waiting %d; want 1, 0", holding, waiting)
	}
}
