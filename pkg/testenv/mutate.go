package testenv

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Mutations for the fuzz targets' budgeted runs. `go test -fuzz` is coverage-guided but
// wants fast, stateless inputs; each of these inputs is a real object reconciled for
// seconds against an envtest apiserver, and its worker processes stall here. So `make fuzz`
// runs the same native fuzz target on its corpus plus structured mutations of it: a spec
// is a JSON tree, and mutating values, keys and shapes in that tree reaches the schema's
// and the controller's corners far sooner than flipping bytes would.

// FuzzBudget is how long a budgeted run adds mutated inputs (KUBESEED_FUZZ_TIME, e.g.
// 30s; unset, none are added) and the seed of its generator (KUBESEED_FUZZ_SEED, printed
// so that a failure can be replayed).
func FuzzBudget(tb testing.TB) (time.Duration, uint64) {
	tb.Helper()
	raw := os.Getenv("KUBESEED_FUZZ_TIME")
	if raw == "" {
		return 0, 0
	}
	budget, err := time.ParseDuration(raw)
	if err != nil {
		tb.Fatalf("KUBESEED_FUZZ_TIME %q: %v", raw, err)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KUBESEED_FUZZ_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			tb.Fatalf("KUBESEED_FUZZ_SEED %q: %v", s, err)
		}
	}
	tb.Logf("fuzz budget %s, KUBESEED_FUZZ_SEED=%d", budget, seed)
	return budget, seed
}

// Mutator derives new specs from a corpus.
type Mutator struct {
	rng    *rand.Rand
	corpus []any
	keys   []string // every key seen in the corpus, to add where it does not belong
}

// NewMutator reads the corpus (JSON objects; others are ignored).
func NewMutator(seed uint64, corpus [][]byte) *Mutator {
	m := &Mutator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	seen := map[string]bool{}
	for _, c := range corpus {
		var v any
		if json.Unmarshal(c, &v) != nil {
			continue
		}
		m.corpus = append(m.corpus, v)
		collectKeys(v, seen)
	}
	for k := range seen {
		m.keys = append(m.keys, k)
	}
	slices.Sort(m.keys)
	return m
}

// Next is a corpus entry with one to three mutations.
func (m *Mutator) Next() []byte {
	if len(m.corpus) == 0 {
		return []byte("{}")
	}
	v := clone(m.corpus[m.rng.IntN(len(m.corpus))])
	for range 1 + m.rng.IntN(3) {
		v = m.mutate(v, 0)
	}
	out, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal a mutated spec: %v", err))
	}
	return out
}

// interesting are values at the edges of what specs hold: empty, negative, huge, wrong
// kind, wrong family, paths, wildcards.
var interesting = []any{
	"", "0", "-1", "1", "3", "7", "v1.36.3", "v1.37.0", "v0.1.0", "1Gi", "0Gi", "999Ti", "0.5", "1e3",
	"10.0.0.0/8", "10.96.0.0/12", "::/0", "fd00::/108", "192.0.2.1", "*", "*.example.com", "..",
	"../../etc/passwd", "https://203.0.113.1:2379", "a=b,c=d", strings.Repeat("a", 300),
	"00000000-0000-4000-8000-000000000000", "NodePort", "Octavia", "LoadBalancer",
	-1.0, 0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 1e9, true, false, nil,
	map[string]any{}, []any{}, map[string]any{"etcd-servers": "https://203.0.113.1:2379"},
	map[string]any{"v": "4"}, map[string]any{"cpu": "2"}, []any{"10.0.0.0/8", "not-a-cidr"},
}

func (m *Mutator) mutate(v any, depth int) any {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		switch r := m.rng.IntN(10); {
		case r == 0 && len(keys) > 0: // drop a key
			delete(t, keys[m.rng.IntN(len(keys))])
		case r == 1 && len(m.keys) > 0: // add a key from elsewhere
			t[m.keys[m.rng.IntN(len(m.keys))]] = m.value()
		case len(keys) > 0 && depth < 8: // go deeper
			k := keys[m.rng.IntN(len(keys))]
			t[k] = m.mutate(t[k], depth+1)
		default:
			return m.value()
		}
		return t
	case []any:
		if len(t) == 0 || m.rng.IntN(4) == 0 {
			return append(t, m.value())
		}
		i := m.rng.IntN(len(t))
		t[i] = m.mutate(t[i], depth+1)
		return t
	default:
		return m.value()
	}
}

func (m *Mutator) value() any { return clone(interesting[m.rng.IntN(len(interesting))]) }

func collectKeys(v any, seen map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			seen[k] = true
			collectKeys(c, seen)
		}
	case []any:
		for _, c := range t {
			collectKeys(c, seen)
		}
	}
}

func clone(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, c := range t {
			out[k] = clone(c)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, c := range t {
			out[i] = clone(c)
		}
		return out
	default:
		return t
	}
}

// fuzzMutations is how many mutated inputs a budgeted run prepares; the budget, not this
// count, ends the run (refused inputs take milliseconds, accepted ones seconds).
const fuzzMutations = 500

// AddMutations adds mutated inputs to f when a budget is set (FuzzBudget) and returns the
// gate every input passes first: in a budgeted run, corpus entries (already run by `make
// test`) are skipped, and so are mutated inputs once the budget is spent. Without a
// budget the gate passes everything.
func AddMutations(f *testing.F, corpus [][]byte) func(t *testing.T, input []byte) {
	budget, seed := FuzzBudget(f)
	if budget == 0 {
		return func(*testing.T, []byte) {}
	}
	m := NewMutator(seed, corpus)
	mutated := map[string]bool{}
	for range fuzzMutations {
		in := m.Next()
		if !mutated[string(in)] {
			mutated[string(in)] = true
			f.Add(in)
		}
	}
	var deadline time.Time
	return func(t *testing.T, input []byte) {
		if !mutated[string(input)] {
			t.Skip("corpus entry: run by make test")
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(budget)
		}
		if time.Now().After(deadline) {
			t.Skip("fuzz budget spent")
		}
	}
}
