package metrics

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kubeseed/kubeseed/charts"
)

// The dashboard (charts/kubeseed/dashboards/kubeseed.json) may query kubeseed's metrics and
// controller-runtime's: these prefixes are checked against the registry.
var checkedPrefixes = []string{"kubeseed_", "controller_runtime_", "workqueue_"}

// selector is one vector selector of a PromQL expression: a metric name and its label
// matchers.
type selector struct {
	metric   string
	matchers []matcher
}

type matcher struct{ label, op, value string }

// promqlKeywords are identifiers that are not metric names when no "(" follows them.
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "and": true, "or": true, "unless": true, "offset": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
	// Aggregations, when "by (...)" or "without (...)" comes before their "(".
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// labelListKeywords take a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

var (
	identRE    = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	numberRE   = regexp.MustCompile(`^(0x[0-9a-fA-F]+|[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?([smhdwy]|ms)?)`)
	variableRE = regexp.MustCompile(`^\$(\{[^}]*\}|[a-zA-Z0-9_]+)`)
	matcherRE  = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`" + `)\s*,?`)
)

// parseSelectors returns the vector selectors of a PromQL expression (Grafana variables
// allowed). It is a tokenizer, not a parser: enough for the dashboard's expressions, whose
// every selector starts with a metric name, and strict about what it does not know.
func parseSelectors(expr string) ([]selector, error) {
	var out []selector
	s := expr
	for len(s) > 0 {
		switch c := s[0]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s = s[1:]
		case c == '"' || c == '\'' || c == '`':
			end := strings.IndexByte(s[1:], c)
			if end < 0 {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			s = s[end+2:]
		case c == '[': // a range or subquery: durations and Grafana variables
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("unterminated range in %q", expr)
			}
			s = s[end+1:]
		case c == '{':
			return nil, fmt.Errorf("a selector without a metric name in %q", expr)
		case c == '$':
			v := variableRE.FindString(s)
			if v == "" {
				return nil, fmt.Errorf("bad variable at %q", s)
			}
			s = s[len(v):]
		case numberRE.MatchString(s) && (c >= '0' && c <= '9'):
			s = s[len(numberRE.FindString(s)):]
		case identRE.MatchString(s):
			id := identRE.FindString(s)
			s = s[len(id):]
			rest := strings.TrimLeft(s, " \t\n")
			switch {
			case labelListKeywords[id] && strings.HasPrefix(rest, "("):
				end := strings.IndexByte(rest, ')')
				if end < 0 {
					return nil, fmt.Errorf("unterminated label list after %s in %q", id, expr)
				}
				s = rest[end+1:]
			case strings.HasPrefix(rest, "("): // a function or an aggregation
			case promqlKeywords[id]:
			default:
				sel := selector{metric: id}
				if strings.HasPrefix(rest, "{") {
					ms, n, err := parseMatchers(rest)
					if err != nil {
						return nil, fmt.Errorf("%w in %q", err, expr)
					}
					sel.matchers, s = ms, rest[n:]
				}
				out = append(out, sel)
			}
		case strings.ContainsRune("()+-*/%^=!<>,", rune(c)):
			s = s[1:]
		default:
			return nil, fmt.Errorf("unexpected %q in %q", s, expr)
		}
	}
	return out, nil
}

// parseMatchers reads `{label op "value", ...}` at the start of s and returns the matchers
// and how much of s they took.
func parseMatchers(s string) ([]matcher, int, error) {
	var out []matcher
	i := 1
	for {
		rest := s[i:]
		if t := strings.TrimLeft(rest, " "); strings.HasPrefix(t, "}") {
			return out, i + len(rest) - len(t) + 1, nil
		}
		m := matcherRE.FindStringSubmatch(rest)
		if m == nil {
			return nil, 0, fmt.Errorf("bad label matchers at %q", rest)
		}
		out = append(out, matcher{label: m[1], op: m[2], value: m[3][1 : len(m[3])-1]})
		i += len(m[0])
	}
}

func TestParseSelectors(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []selector
	}{
		{"kubeseed_tenant_clusters", []selector{{metric: "kubeseed_tenant_clusters"}}},
		{"sum by (phase) (kubeseed_tenant_clusters)", []selector{{metric: "kubeseed_tenant_clusters"}}},
		{
			`histogram_quantile(0.99, sum by (le) (rate(workqueue_queue_duration_seconds_bucket{name="tenantcluster"}[$__rate_interval])))`,
			[]selector{{metric: "workqueue_queue_duration_seconds_bucket", matchers: []matcher{{"name", "=", "tenantcluster"}}}},
		},
		{
			`count(kubeseed_x{namespace=~"$namespace", name!='a,b'} < 30 * 86400) or vector(0)`,
			[]selector{{metric: "kubeseed_x", matchers: []matcher{{"namespace", "=~", "$namespace"}, {"name", "!=", "a,b"}}}},
		},
		{
			"a / on (namespace, name) group_left (tenant) b offset 5m > bool 1e3",
			[]selector{{metric: "a"}, {metric: "b"}},
		},
		{`sum without (instance) (rate(c_total[5m:1m]))`, []selector{{metric: "c_total"}}},
		{`label_replace(up{job="x"}, "dst", "$1", "src", "(.*)")`, []selector{{metric: "up", matchers: []matcher{{"job", "=", "x"}}}}},
	} {
		t.Run(c.expr, func(t *testing.T) {
			got, err := parseSelectors(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	for _, bad := range []string{`{job="x"}`, `up{job=x}`, `up{job="x"`, `rate(up[5m)`, `up # comment`} {
		if got, err := parseSelectors(bad); err == nil {
			t.Errorf("parseSelectors(%q) = %+v, want an error", bad, got)
		}
	}
}

// dashboardQueries returns every PromQL expression of the dashboard: the panels' targets
// ("expr", at any depth, rows included) and the query variables' label_values(...).
func dashboardQueries(t *testing.T) (exprs []string, labelValues [][2]string) {
	t.Helper()
	raw, err := fs.ReadFile(charts.Kubeseed, "dashboards/kubeseed.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboards/kubeseed.json: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dash["panels"])
	lv := regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)
	templating, _ := dash["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	for _, v := range list {
		v, _ := v.(map[string]any)
		if v["type"] != "query" {
			continue
		}
		q, ok := v["query"].(string)
		if m, isMap := v["query"].(map[string]any); isMap {
			q, ok = m["query"].(string)
		}
		m := lv.FindStringSubmatch(q)
		if !ok || m == nil {
			t.Errorf("variable %v: query %q is not label_values(<selector>, <label>)", v["name"], q)
			continue
		}
		labelValues = append(labelValues, [2]string{m[1], m[2]})
	}
	return exprs, labelValues
}

// exported indexes the registry's series by the names PromQL sees: a histogram family
// "x" is x_bucket (with le), x_sum and x_count.
func exported(t *testing.T, g prometheus.Gatherer) map[string][]map[string]string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]string{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				bucket := map[string]string{"le": ""}
				for k, v := range labels {
					bucket[k] = v
				}
				out[mf.GetName()+"_bucket"] = append(out[mf.GetName()+"_bucket"], bucket)
				out[mf.GetName()+"_sum"] = append(out[mf.GetName()+"_sum"], labels)
				out[mf.GetName()+"_count"] = append(out[mf.GetName()+"_count"], labels)
			case dto.MetricType_SUMMARY:
				out[mf.GetName()] = append(out[mf.GetName()], labels)
				out[mf.GetName()+"_sum"] = append(out[mf.GetName()+"_sum"], labels)
				out[mf.GetName()+"_count"] = append(out[mf.GetName()+"_count"], labels)
			default:
				out[mf.GetName()] = append(out[mf.GetName()], labels)
			}
		}
	}
	return out
}

// checkDashboard parses every query of the dashboard and checks each selector of a
// kubeseed_, controller_runtime_ or workqueue_ metric against what g exports (g fed with a
// tenant): the metric has series, every label a matcher names exists on them, and a literal
// `label="value"` matches one of them (e.g. controller="tenantcluster", the controller's
// real name). Every kubeseed metric must be on the dashboard.
func checkDashboard(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	series := exported(t, g)
	exprs, labelValues := dashboardQueries(t)
	if len(exprs) < 10 {
		t.Fatalf("found %d expressions in the dashboard; did its shape change?", len(exprs))
	}
	used := map[string]bool{}
	check := func(where string, sel selector) {
		if !slices.ContainsFunc(checkedPrefixes, func(p string) bool { return strings.HasPrefix(sel.metric, p) }) {
			t.Errorf("%s: %s is neither kubeseed's nor controller-runtime's metric", where, sel.metric)
			return
		}
		used[sel.metric] = true
		ss, ok := series[sel.metric]
		if !ok {
			t.Errorf("%s: %s is not exported", where, sel.metric)
			return
		}
		for _, m := range sel.matchers {
			if !slices.ContainsFunc(ss, func(l map[string]string) bool { _, ok := l[m.label]; return ok }) {
				t.Errorf("%s: %s has no label %s", where, sel.metric, m.label)
				continue
			}
			if m.op == "=" && !strings.Contains(m.value, "$") &&
				!slices.ContainsFunc(ss, func(l map[string]string) bool { return l[m.label] == m.value }) {
				t.Errorf("%s: no series of %s has %s=%q", where, sel.metric, m.label, m.value)
			}
		}
	}
	for _, e := range exprs {
		sels, err := parseSelectors(e)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(sels) == 0 {
			t.Errorf("%q selects no metric", e)
		}
		for _, s := range sels {
			check(fmt.Sprintf("%q", e), s)
		}
	}
	for _, lv := range labelValues {
		sels, err := parseSelectors(lv[0])
		if err != nil || len(sels) != 1 {
			t.Errorf("label_values(%s, %s): want one selector (%v)", lv[0], lv[1], err)
			continue
		}
		check("label_values("+lv[0]+")", sels[0])
		if ss := series[sels[0].metric]; !slices.ContainsFunc(ss, func(l map[string]string) bool { _, ok := l[lv[1]]; return ok }) {
			t.Errorf("label_values(%s, %s): %s has no label %s", lv[0], lv[1], sels[0].metric, lv[1])
		}
	}
	for name := range series {
		family := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
		if !strings.HasPrefix(name, "kubeseed_") || used[name] {
			continue
		}
		if used[family+"_bucket"] || used[family+"_count"] || used[family+"_sum"] {
			continue
		}
		t.Errorf("%s is on no panel of the dashboard", name)
	}
}
