package main

import (
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	const pkg = `"Package":"example.com/e2e"`
	line := func(s string) string { return "{" + pkg + "," + s + "}\n" }
	for _, tc := range []struct {
		name   string
		in     string
		ok     bool
		want   []string
		absent []string
	}{{
		name: "a passing test prints its line, not its output",
		in: line(`"Action":"run","Test":"TestA"`) +
			line(`"Action":"output","Test":"TestA","Output":"    a_test.go:1: noise\n"`) +
			line(`"Action":"pass","Test":"TestA/sub","Elapsed":1`) +
			line(`"Action":"pass","Test":"TestA","Elapsed":12.34`) +
			line(`"Action":"output","Output":"ok  \texample.com/e2e\t12.4s\n"`) +
			line(`"Action":"pass","Elapsed":12.4`),
		ok:     true,
		want:   []string{"--- PASS: TestA (12.3s)", "PASS\texample.com/e2e\t12.4s"},
		absent: []string{"noise", "TestA/sub"},
	}, {
		name: "a failing test prints its output, its subtests' too",
		in: line(`"Action":"output","Test":"TestA","Output":"=== RUN   TestA\n"`) +
			line(`"Action":"output","Test":"TestA/sub","Output":"    a_test.go:9: the tenant is not Ready\n"`) +
			line(`"Action":"fail","Test":"TestA/sub","Elapsed":3`) +
			line(`"Action":"fail","Test":"TestA","Elapsed":3`) +
			line(`"Action":"pass","Test":"TestB","Elapsed":1`) +
			line(`"Action":"fail","Elapsed":4`),
		want: []string{"the tenant is not Ready", "--- FAIL: TestA (3.0s)", "--- PASS: TestB (1.0s)", "FAIL\texample.com/e2e"},
	}, {
		name: "a test cut off by a panic or timeout is shown unfinished",
		in: line(`"Action":"output","Test":"TestA","Output":"panic: test timed out after 65m0s\n"`) +
			line(`"Action":"fail","Elapsed":3900`),
		want: []string{"panic: test timed out", "--- UNFINISHED: TestA"},
	}, {
		name: "a build failure is kept and fails",
		in:   "# example.com/e2e\ne2e/a_test.go:3:1: syntax error\n",
		want: []string{"syntax error"},
	}, {
		name: "a build failure reported as events is kept and fails",
		in: line(`"Action":"build-output","ImportPath":"example.com/e2e [example.com/e2e.test]","Output":"e2e/a_test.go:3:1: undefined: x\n"`) +
			line(`"Action":"build-fail","ImportPath":"example.com/e2e [example.com/e2e.test]"`) +
			line(`"Action":"output","Output":"FAIL\texample.com/e2e [build failed]\n"`) +
			line(`"Action":"fail","Elapsed":0,"FailedBuild":"example.com/e2e [example.com/e2e.test]"`),
		want: []string{"undefined: x", "[build failed]", "FAIL\texample.com/e2e"},
	}, {
		name: "nothing read is a failure",
		in:   "",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			ok, err := summarize(strings.NewReader(tc.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v; output:\n%s", ok, tc.ok, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(out.String(), a) {
					t.Errorf("output holds %q:\n%s", a, out.String())
				}
			}
		})
	}
}
