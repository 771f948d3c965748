package overview_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The tests below hold the Grafana dashboards and the Prometheus rules in
// deploy/ to the metrics iseed exports (deploy/prometheus/metrics.txt, itself
// held to a real scrape by TestMetricsScrape) and the alerts to their
// runbook entries in docs/operations.md. .ci/check-monitoring runs them
// beside promtool.

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	Title         string  `json:"title"`
	UID           string  `json:"uid"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

// variable is a dashboard variable.
type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"`
	Definition string `json:"definition"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// ruleFile is a Prometheus rule file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func ruleFiles(t *testing.T) map[string]ruleFile {
	t.Helper()
	out := map[string]ruleFile{}
	for _, name := range []string{"rules.yaml", "alerts.yaml"} {
		b, err := os.ReadFile(filepath.Join("../deploy/prometheus", name))
		if err != nil {
			t.Fatal(err)
		}
		var f ruleFile
		if err := yaml.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = f
	}
	return out
}

func dashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	paths, err := filepath.Glob("../deploy/grafana/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards in deploy/grafana (%v)", err)
	}
	out := map[string]dashboard{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s does not parse: %v", p, err)
		}
		out[filepath.Base(p)] = d
	}
	return out
}

// TestMonitoringDashboardShape checks what Grafana 10+ needs to import the
// dashboards: a title and uid, a Prometheus datasource variable every
// panel uses, unique panel ids, panels that fit the 24-column grid without
// overlapping, and a query in every panel.
func TestMonitoringDashboardShape(t *testing.T) {
	for name, d := range dashboards(t) {
		t.Run(name, func(t *testing.T) {
			if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
				t.Errorf("title %q, uid %q, schemaVersion %d: want both set and a Grafana 10+ schema (36 or later)", d.Title, d.UID, d.SchemaVersion)
			}
			hasDS := slices.ContainsFunc(d.Templating.List, func(v variable) bool {
				return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
			})
			if !hasDS {
				t.Error(`no "datasource" variable of type datasource for prometheus`)
			}
			ids := map[int]bool{}
			var placed []panel
			for _, p := range allPanels(d.Panels) {
				if ids[p.ID] {
					t.Errorf("panel id %d used twice", p.ID)
				}
				ids[p.ID] = true
				g := p.GridPos
				if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
					t.Errorf("panel %q: gridPos %+v does not fit the 24-column grid", p.Title, g)
				}
				for _, q := range placed {
					if overlap(p, q) {
						t.Errorf("panels %q and %q overlap", p.Title, q.Title)
					}
				}
				placed = append(placed, p)
				if p.Type == "row" {
					continue
				}
				if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
					t.Errorf("panel %q does not use the datasource variable", p.Title)
				}
				if len(p.Targets) == 0 {
					t.Errorf("panel %q has no query", p.Title)
				}
				refs := map[string]bool{}
				for _, q := range p.Targets {
					if q.Expr == "" || q.RefID == "" || refs[q.RefID] {
						t.Errorf("panel %q: a query without expr, or a refId missing or repeated (%q)", p.Title, q.RefID)
					}
					refs[q.RefID] = true
				}
			}
		})
	}
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func overlap(a, b panel) bool {
	x, y := a.GridPos, b.GridPos
	return x.X < y.X+y.W && y.X < x.X+x.W && x.Y < y.Y+y.H && y.Y < x.Y+x.H
}

// TestMonitoringUsesExportedMetrics checks that every series a dashboard
// or a rule reads is one iseed exports (or one the recording rules make).
func TestMonitoringUsesExportedMetrics(t *testing.T) {
	listed := listedMetrics(t)
	recorded := map[string]bool{}
	files := ruleFiles(t)
	for _, f := range files {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
				}
			}
		}
	}
	check := func(where, expr string) {
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: reads no metric: %s", where, expr)
		}
		for _, n := range names {
			if !known(n, listed, recorded) {
				t.Errorf("%s: %s is not a metric iseed exports (deploy/prometheus/metrics.txt) nor a recording rule", where, n)
			}
		}
	}
	for name, f := range files {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				check(fmt.Sprintf("%s %s%s", name, r.Record, r.Alert), r.Expr)
			}
		}
	}
	for name, d := range dashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, q := range p.Targets {
				check(fmt.Sprintf("%s panel %q", name, p.Title), q.Expr)
			}
		}
		for _, v := range d.Templating.List {
			if m := labelValues.FindStringSubmatch(v.Definition); m != nil && !known(m[1], listed, recorded) {
				t.Errorf("%s variable %s: %s is not a metric iseed exports", name, v.Name, m[1])
			}
		}
	}
}

var labelValues = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)

func known(name string, listed map[string]string, recorded map[string]bool) bool {
	if recorded[name] || listed[name] != "" {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && listed[base] == "histogram" {
			return true
		}
	}
	return false
}

// TestMonitoringAlertsHaveRunbooks checks every alert's annotations and
// that its runbook_url names a heading of docs/operations.md.
// TestMonitoringSpendPanels: a dashboard query of iseed_spend_euros_total
// counts a series that starts within its window whole, as the form whose
// result deploy/prometheus/alerts_test.yaml checks with promtool does
// (last_over_time of the series not there a window before), or reads the
// recording rule made so; increase() alone leaves out a series' first
// value, its first request's price.
func TestMonitoringSpendPanels(t *testing.T) {
	found := 0
	for name, d := range dashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				if !strings.Contains(tg.Expr, "iseed_spend_euros_total") && !strings.Contains(tg.Expr, "iseed:spend_euros:") {
					continue
				}
				found++
				if !strings.Contains(tg.Expr, "iseed:spend_euros:increase1h") &&
					!(strings.Contains(tg.Expr, "last_over_time(iseed_spend_euros_total") && strings.Contains(tg.Expr, "unless iseed_spend_euros_total")) {
					t.Errorf("%s, %q: %s; want a series born in the window counted whole (last_over_time … unless … offset), "+
						"or iseed:spend_euros:increase1h", name, p.Title, tg.Expr)
				}
			}
		}
	}
	if found == 0 {
		t.Error("no panel shows iseed_spend_euros_total")
	}
}

func TestMonitoringAlertsHaveRunbooks(t *testing.T) {
	doc, err := os.ReadFile("../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		if title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			anchors[slug(title)] = true
		}
	}
	for _, g := range ruleFiles(t)["alerts.yaml"].Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			a := r.Annotations
			if a["summary"] == "" || a["description"] == "" || r.Labels["severity"] == "" {
				t.Errorf("%s: want a summary, a description and a severity", r.Alert)
			}
			doc, anchor, ok := strings.Cut(a["runbook_url"], "#")
			if !ok || !strings.HasSuffix(doc, "docs/operations.md") || anchor != strings.ToLower(r.Alert) || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q: want …/docs/operations.md#%s, a heading of docs/operations.md", r.Alert, a["runbook_url"], strings.ToLower(r.Alert))
			}
		}
	}
}

// TestMonitoringAlertsNameTheDeployment checks that every aggregation in
// an alert keeps namespace and job: one deployment, as rules.yaml
// aggregates, so that two deployments scraped under the same job (in two
// namespaces) are two alerts, each routed by its namespace.
func TestMonitoringAlertsNameTheDeployment(t *testing.T) {
	by := regexp.MustCompile(`\b(by|without)\s*\(([^)]*)\)`)
	for _, g := range ruleFiles(t)["alerts.yaml"].Groups {
		for _, r := range g.Rules {
			for _, m := range by.FindAllStringSubmatch(r.Expr, -1) {
				labels := strings.Split(strings.ReplaceAll(m[2], " ", ""), ",")
				if m[1] != "by" || !slices.Contains(labels, "namespace") || !slices.Contains(labels, "job") {
					t.Errorf("%s: got %s, want by (namespace, job, …)", r.Alert, m[0])
				}
			}
		}
	}
}

// slug is GitHub's anchor of a heading.
func slug(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(title)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// PromQL pieces that are not metric names.
var (
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promVars     = regexp.MustCompile(`\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// promWords are PromQL keywords and aggregation operators.
var promWords = map[string]bool{
	"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true, "bool": true, "offset": true, "inf": true, "nan": true, "atan2": true,
	"sum": true, "min": true, "max": true, "avg": true, "count": true, "stddev": true, "stdvar": true, "topk": true,
	"bottomk": true, "quantile": true, "count_values": true, "group": true, "limitk": true, "limit_ratio": true,
	"start": true, "end": true,
}

// metricNames returns the metric names an expression reads: identifiers
// that are not keywords, aggregations, functions (followed by "("), label
// names (in matchers or grouping clauses), numbers or durations.
func metricNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, " ")
	for promMatchers.MatchString(s) {
		s = promMatchers.ReplaceAllString(s, " ")
	}
	s = promRanges.ReplaceAllString(s, " ")
	s = promVars.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsRune("0123456789.", rune(s[loc[0]-1])) {
			continue // 1e3, 30m
		}
		if promWords[word] || strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue
		}
		if !slices.Contains(out, word) {
			out = append(out, word)
		}
	}
	return out
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (outcome) (rate(iseed_submission_outcomes_total{job=~"$job"}[$__rate_interval]))`, []string{"iseed_submission_outcomes_total"}},
		{`histogram_quantile(0.95, sum by (le) (rate(iseed_submission_processing_seconds_bucket[5m])))`, []string{"iseed_submission_processing_seconds_bucket"}},
		{"max by (namespace, job) (iseed_a + iseed_b) > 0\n  unless iseed:c:max > 0", []string{"iseed_a", "iseed_b", "iseed:c:max"}},
		{`iseed:x:max - iseed:x:max offset 30m > 1e3`, []string{"iseed:x:max"}},
		{`time() - max(process_start_time_seconds{job="a,b"})`, []string{"process_start_time_seconds"}},
		{`count(up) * on (instance) group_left (version) build_info`, []string{"up", "build_info"}},
		{`vector(1)`, nil},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q): got %v, want %v", tt.expr, got, tt.want)
		}
	}
}
