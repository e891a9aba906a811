// Package docs keeps the documentation true to the code: every message troubleshooting.md
// quotes exists in the sources, every relative link and anchor in the Markdown resolves, and
// README.md lists every page.
package docs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// root is the repository, from this package's directory.
const root = ".."

// TestTroubleshootingMessagesExist: each code span in a "Message:" block of
// troubleshooting.md is a message of kubeseed's own, found in the Go sources, the shell
// scripts under hack/ or the CRDs' CEL messages. "<...>" in a quote stands for a value:
// a format verb (%s, %d, %q, ...), a Go string concatenation or a shell variable.
func TestTroubleshootingMessagesExist(t *testing.T) {
	page, err := os.ReadFile("troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	corpus := sources(t)
	messages := quotedMessages(string(page))
	if len(messages) < 20 {
		t.Fatalf("found only %d quoted messages in troubleshooting.md: is the \"Message:\" marker still used?", len(messages))
	}
	for _, m := range messages {
		re := messagePattern(m)
		found := false
		for _, text := range corpus {
			if re.MatchString(text) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("troubleshooting.md quotes %q, which is in no Go source, hack/ script or CRD message", m)
		}
	}
}

// quotedMessages returns the code spans of every "Message:" block: from the marker to the
// end of its paragraph, a list item or the next marker.
func quotedMessages(page string) []string {
	var out []string
	var block []string
	flush := func() {
		if block != nil {
			out = append(out, codeSpans(strings.Join(block, "\n"))...)
			block = nil
		}
	}
	inFence := false
	for _, line := range strings.Split(page, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			flush()
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if _, rest, ok := strings.Cut(line, "Message:"); ok {
			flush()
			block = []string{rest}
			continue
		}
		if trimmed == "" || strings.HasPrefix(trimmed, "- ") || strings.HasPrefix(trimmed, "#") {
			flush()
			continue
		}
		if block != nil {
			block = append(block, line)
		}
	}
	flush()
	return out
}

// codeSpans returns the contents of Markdown code spans, CommonMark's way: a run of n
// backticks up to the next run of exactly n, line endings as spaces, one space stripped
// from both ends when both have one.
func codeSpans(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		n := run(s, i)
		closing := -1
		for j := i + n; j < len(s); {
			if s[j] != '`' {
				j++
				continue
			}
			if m := run(s, j); m == n {
				closing = j
				break
			} else {
				j += m
			}
		}
		if closing < 0 {
			i += n
			continue
		}
		content := strings.ReplaceAll(s[i+n:closing], "\n", " ")
		if len(content) > 2 && content[0] == ' ' && content[len(content)-1] == ' ' {
			content = content[1 : len(content)-1]
		}
		out = append(out, content)
		i = closing + n
	}
	return out
}

func run(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
}

var placeholder = regexp.MustCompile(`<[^<>]+>`)

// value is what a placeholder may stand for in source text: a format verb, the middle of a
// Go string concatenation ("a " + x + " b"), or a shell variable.
const value = `(?:%[-+# 0-9.*]*[a-zA-Z]|"\s*\+[^\n]*?\+\s*"|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)`

// messagePattern matches m in source text; a placeholder at either end matches anything.
func messagePattern(m string) *regexp.Regexp {
	m = strings.TrimSpace(placeholder.ReplaceAllString(m, "\x00"))
	m = strings.Trim(m, "\x00")
	var pattern strings.Builder
	for i, piece := range strings.Split(m, "\x00") {
		if i > 0 {
			pattern.WriteString(value)
		}
		pattern.WriteString(regexp.QuoteMeta(piece))
	}
	return regexp.MustCompile(pattern.String())
}

// sources are the texts a quoted message may come from: non-test Go files, the scripts
// under hack/, and the messages of the CRDs' CEL rules.
func sources(t *testing.T) []string {
	t.Helper()
	var texts []string
	for _, dir := range []string{"apis", "cmd", "controllers", "pkg", "hack", "e2e", "charts"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			switch {
			case d.IsDir() && name == "testdata":
				return filepath.SkipDir
			case d.IsDir():
				return nil
			case strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"),
				strings.HasSuffix(name, ".sh"):
				raw, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				texts = append(texts, string(raw))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	crds, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	for _, path := range crds {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		texts = append(texts, celMessages(doc)...)
	}
	return texts
}

// celMessages collects the messages of every x-kubernetes-validations rule in a CRD.
func celMessages(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if rules, ok := e.([]any); ok && k == "x-kubernetes-validations" {
				for _, r := range rules {
					if m, ok := r.(map[string]any)["message"].(string); ok {
						out = append(out, m)
					}
				}
			}
			out = append(out, celMessages(e)...)
		}
	case []any:
		for _, e := range v {
			out = append(out, celMessages(e)...)
		}
	}
	return out
}

// TestLinksResolve: every relative link in README.md and under docs/ names a file that
// exists, and an anchor into a Markdown file names one of its headings.
func TestLinksResolve(t *testing.T) {
	for _, page := range pages(t, true) {
		raw, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links(string(raw)) {
			if strings.Contains(l, "://") || strings.HasPrefix(l, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(l, "#")
			target := page
			if file != "" {
				target = filepath.Join(filepath.Dir(page), file)
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("%s: link %q: %v", rel(page), l, err)
				continue
			}
			if anchor == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			content, err := os.ReadFile(target)
			if err != nil {
				t.Fatal(err)
			}
			if !headingAnchors(string(content))[anchor] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", rel(page), l, rel(target), anchor)
			}
		}
	}
}

// TestReadmeListsEveryPage: the Documentation section of README.md links every page in
// docs/.
func TestReadmeListsEveryPage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Documentation\n")
	if !ok {
		t.Fatal("README.md has no \"## Documentation\" section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	listed := map[string]bool{}
	for _, l := range links(section) {
		file, _, _ := strings.Cut(l, "#")
		listed[filepath.Clean(file)] = true
	}
	for _, page := range pages(t, false) {
		r := rel(page)
		if !listed[r] {
			t.Errorf("README.md's Documentation section does not link %s", r)
		}
	}
}

// pages are the Markdown files under docs/, and README.md when withReadme.
func pages(t *testing.T, withReadme bool) []string {
	t.Helper()
	var out []string
	if withReadme {
		out = append(out, filepath.Join(root, "README.md"))
	}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".md") {
			out = append(out, filepath.Join(root, "docs", path))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rel is path relative to the repository.
func rel(path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return r
}

var linkPattern = regexp.MustCompile(`\]\(([^()\s]+)\)`)

// links returns the targets of the inline links of a Markdown text, outside code.
func links(md string) []string {
	var out []string
	for _, line := range prose(md) {
		line = inlineCode.ReplaceAllString(line, "")
		for _, m := range linkPattern.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

var inlineCode = regexp.MustCompile("`+[^`]*`+")

// prose returns the lines of md outside fenced code blocks.
func prose(md string) []string {
	var out []string
	inFence := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if !inFence {
			out = append(out, line)
		}
	}
	return out
}

// headingAnchors are the anchors GitHub gives the headings of md: the heading's text in
// lower case, punctuation dropped, spaces as hyphens, "-1", "-2", ... for repeats.
func headingAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range prose(md) {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r > 127:
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		slug := b.String()
		id := slug
		for anchors[id] {
			seen[slug]++
			id = fmt.Sprintf("%s-%d", slug, seen[slug])
		}
		anchors[id] = true
	}
	return anchors
}

// TestMessagePattern: what a quote with placeholders matches in source text.
func TestMessagePattern(t *testing.T) {
	cases := []struct {
		quote, source string
		match         bool
	}{
		{"spec.paused is true", `Message: "spec.paused is true: kubeseed leaves"`, true},
		{"Service <svc> has no node port yet", `fmt.Sprintf("Service %s has no node port yet", svc.Name)`, true},
		{"<n> of <m> certificates issued; waiting for <names>", `"%d of %d certificates issued; waiting for %v"`, true},
		{"<san> is neither an IP address nor a DNS name", `fmt.Errorf("%q is neither an IP address nor a DNS name", s)`, true},
		{"(no <crd> CRD): install", `"(no " + certManagerCRD + " CRD): install"`, true},
		{"demo: <ns>/<name> is not Ready after <timeout>s.", `echo "demo: $ns/$name is not Ready after ${timeout}s."`, true},
		{"Service <svc>-kube-apiserver has no node port yet", `"Service %s has no node port yet"`, false},
		{"spec.paused is false", `"spec.paused is true"`, false},
		{"waiting for <x> to start", "\"waiting for \" + a +\n\t\" to start\"", true},
		{"waiting for <x> to start", `"waiting for the members to start"`, false},
	}
	for _, c := range cases {
		if got := messagePattern(c.quote).MatchString(c.source); got != c.match {
			t.Errorf("messagePattern(%q) matches %q: %v, want %v", c.quote, c.source, got, c.match)
		}
	}
}
