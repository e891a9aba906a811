package controlplane

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kubeseed/kubeseed/pkg/versions"
)

// deprecatedMetric is the kube-apiserver's gauge of deprecated APIs requested since it
// started, one series per API with the release that removes it.
const deprecatedMetric = "apiserver_requested_deprecated_apis{"

var metricLabel = regexp.MustCompile(`(\w+)="([^"]*)"`)

// RemovedAPIs reads a kube-apiserver's /metrics and returns the APIs its clients requested
// that target (a version vX.Y.Z) no longer serves, as "group/version resource", sorted. The
// gauge counts only what was asked of that apiserver since it started.
func RemovedAPIs(metrics io.Reader, target string) ([]string, error) {
	v, err := versions.Parse(target)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(metrics)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), deprecatedMetric)
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(line, "} ")
		if !ok || strings.TrimSpace(value) == "0" {
			continue
		}
		l := map[string]string{}
		for _, m := range metricLabel.FindAllStringSubmatch(labels, -1) {
			l[m[1]] = m[2]
		}
		removed, ok := minorOf(l["removed_release"])
		if !ok || removed.major != v.Major || removed.minor > v.Minor {
			continue
		}
		api := l["version"]
		if g := l["group"]; g != "" {
			api = g + "/" + api
		}
		if r := l["resource"]; r != "" {
			api += " " + r
			if s := l["subresource"]; s != "" {
				api += "/" + s
			}
		}
		if !slices.Contains(out, api) {
			out = append(out, api)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

type release struct{ major, minor int }

// minorOf parses "1.36" (removed_release's form).
func minorOf(s string) (release, bool) {
	ma, mi, ok := strings.Cut(s, ".")
	if !ok {
		return release{}, false
	}
	a, err1 := strconv.Atoi(ma)
	b, err2 := strconv.Atoi(mi)
	return release{a, b}, err1 == nil && err2 == nil
}
