package versions

import (
	"slices"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{in: "v1.36.3", want: Version{1, 36, 3}},
		{in: "v3.6.16", want: Version{3, 6, 16}},
		{in: "1.36.3", wantErr: true},
		{in: "v1.36", wantErr: true},
		{in: "v1.36.3-rc.1", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("Parse(%q) error = %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		if !c.wantErr && (got != c.want || got.String() != c.in) {
			t.Errorf("Parse(%q) = %v (%s), want %v", c.in, got, got, c.want)
		}
	}
}

// TestSupported holds the promises the rest of the code relies on: three consecutive minors,
// oldest first, one patch each, with the default, the seed and envtest among them.
func TestSupported(t *testing.T) {
	if len(Supported) != 3 {
		t.Fatalf("want the three newest minors, got %v", Supported)
	}
	for i, s := range Supported {
		v, err := Parse(s)
		if err != nil {
			t.Fatalf("Supported[%d]: %v", i, err)
		}
		if i > 0 {
			prev, _ := Parse(Supported[i-1])
			if v.Major != prev.Major || v.Minor != prev.Minor+1 {
				t.Errorf("%s does not follow %s by one minor", s, Supported[i-1])
			}
		}
	}
	for name, v := range map[string]string{"Default": Default, "Seed": Seed, "Envtest": Envtest} {
		if !slices.Contains(Supported, v) {
			t.Errorf("%s %s is not in Supported %v", name, v, Supported)
		}
	}
	if !IsSupported(Default) || IsSupported("v1.30.0") {
		t.Errorf("IsSupported disagrees with Supported")
	}
}

// TestCoreDNS: every supported version has a CoreDNS release, and nothing else does.
func TestCoreDNS(t *testing.T) {
	for _, s := range Supported {
		v, err := CoreDNS(s)
		if err != nil {
			t.Errorf("CoreDNS(%s): %v", s, err)
			continue
		}
		if _, err := Parse(v); err != nil {
			t.Errorf("CoreDNS(%s) = %q: %v", s, v, err)
		}
	}
	for _, bad := range []string{"v1.30.0", "1.36.3", ""} {
		if v, err := CoreDNS(bad); err == nil {
			t.Errorf("CoreDNS(%q) = %s, want an error", bad, v)
		}
	}
}
