// Command testsummary reads `go test -json` on stdin and prints what a long suite's reader
// needs: one line per top-level test with its result and duration (to plan which tests run
// beside one another), the whole output of every test that failed (as `go test` without -v
// prints it), and the package result. It exits 1 unless every package passed, so that
// `go test -json … | testsummary` fails as `go test` would.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// event is the part of test2json's TestEvent this reads.
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

func main() {
	ok, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// summarize reports whether every package it saw passed (and it saw one).
func summarize(in io.Reader, out io.Writer) (bool, error) {
	output := map[string]*strings.Builder{} // a top-level test's output, subtests' included
	passed, failed := 0, 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not test2json's: a build error or the toolchain's own words; keep them.
			fmt.Fprintln(out, sc.Text())
			continue
		}
		top, _, sub := strings.Cut(e.Test, "/")
		switch {
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			fmt.Fprintf(out, "%s\t%s\t%.1fs\n", strings.ToUpper(e.Action), e.Package, e.Elapsed)
			if e.Action == "fail" {
				failed++
			} else {
				passed++
			}
		case e.Action == "build-output":
			// The compiler's and vet's words (go test -json sends them as events since Go 1.24).
			fmt.Fprint(out, e.Output)
		case e.Test == "" && e.Action == "output":
			// The package's own output (TestMain's); its plain ok/FAIL/PASS lines are
			// summarised by the pass or fail event, except a FAIL that says why
			// ("[build failed]", "[setup failed]").
			plainFAIL := strings.HasPrefix(e.Output, "FAIL\t") && !strings.Contains(e.Output, "[")
			if !strings.HasPrefix(e.Output, "ok ") && e.Output != "FAIL\n" && e.Output != "PASS\n" && !plainFAIL {
				fmt.Fprint(out, e.Output)
			}
		case e.Test != "" && e.Action == "output":
			b := output[top]
			if b == nil {
				b = &strings.Builder{}
				output[top] = b
			}
			b.WriteString(e.Output)
		case e.Test != "" && !sub && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			if e.Action == "fail" {
				if b := output[top]; b != nil {
					fmt.Fprint(out, b.String())
				}
			}
			fmt.Fprintf(out, "--- %s: %s (%.1fs)\n", strings.ToUpper(e.Action), top, e.Elapsed)
			delete(output, top)
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("read go test -json: %w", err)
	}
	// A test still open here was running when the binary died (a panic or a timeout):
	// its output is the evidence.
	for top, b := range output {
		fmt.Fprintf(out, "%s--- UNFINISHED: %s\n", b.String(), top)
	}
	return failed == 0 && passed > 0, nil
}
