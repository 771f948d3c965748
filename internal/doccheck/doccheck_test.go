package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
)

const root = "../.."

// configVar is one ISEED_* variable read by cmd/iseed's Config.
type configVar struct {
	name, def string
}

// configVars parses cmd/iseed/config.go (package main cannot be imported)
// and returns every envconfig tag with its default.
func configVars(t *testing.T) []configVar {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join(root, "cmd/iseed/config.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var vars []configVar
	ast.Inspect(f, func(n ast.Node) bool {
		field, ok := n.(*ast.Field)
		if !ok || field.Tag == nil {
			return true
		}
		tag, err := strconv.Unquote(field.Tag.Value)
		if err != nil {
			t.Fatal(err)
		}
		st := reflect.StructTag(tag)
		if name, ok := st.Lookup("envconfig"); ok {
			vars = append(vars, configVar{name: "ISEED_" + name, def: st.Get("default")})
		}
		return true
	})
	if len(vars) < 40 {
		t.Fatalf("found %d variables in cmd/iseed/config.go: the parser missed the Config struct", len(vars))
	}
	return vars
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docs returns README.md and every docs/*.md, by path.
func docs(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{"README.md": read(t, "README.md")}
	names, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		rel, _ := filepath.Rel(root, n)
		out[rel] = read(t, rel)
	}
	return out
}

// readmeRows maps each variable named in the first cell of a row of the
// README's configuration table to the row's second cell (the default).
func readmeRows(t *testing.T) map[string]string {
	t.Helper()
	rows := map[string]string{}
	for v, row := range readmeFullRows(t) {
		rows[v] = strings.TrimSpace(strings.Split(row, "|")[2])
	}
	return rows
}

// TestReadmeDocumentsEveryVariable: each variable cmd/iseed reads has a row
// in the README's configuration table, and the row states its default.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	rows := readmeRows(t)
	known := map[string]bool{}
	for _, v := range configVars(t) {
		known[v.name] = true
		def, ok := rows[v.name]
		if !ok {
			t.Errorf("README.md, Configuration: no row for %s", v.name)
			continue
		}
		if v.def == "" {
			continue
		}
		// A row documenting several variables lists their defaults in order,
		// separated by commas; the default must appear in the cell.
		if !strings.Contains(strings.ReplaceAll(def, "`", ""), v.def) {
			t.Errorf("README.md, Configuration: %s defaults to %q in cmd/iseed/config.go, the table says %q", v.name, v.def, def)
		}
	}
	for name := range rows {
		if !known[name] {
			t.Errorf("README.md, Configuration: %s has a row but cmd/iseed does not read it", name)
		}
	}
}

// notVariables are ISEED_* words in the docs that are not configuration:
// stream names, test and build knobs.
var notVariables = map[string]bool{
	"ISEED_SUBMISSIONS": true, "ISEED_EVENTS": true, "ISEED_DLQ": true, "ISEED_TRACK": true,
	"ISEED_ADVISORIES": true, "ISEED_LEDGER": true,
	"ISEED_TEST_OUT": true, "ISEED_TRACK_LOAD": true, "ISEED_VERSION": true, "ISEED_PATCH": true,
}

// TestDocsNameOnlyRealVariables: an ISEED_* variable named anywhere in the
// docs is one cmd/iseed reads (or a stream name or a test knob), so no page
// tells an operator to set something that does nothing.
func TestDocsNameOnlyRealVariables(t *testing.T) {
	known := map[string]bool{}
	for _, v := range configVars(t) {
		known[v.name] = true
	}
	word := regexp.MustCompile(`ISEED_[A-Z0-9_]*[A-Z0-9]`)
	for path, text := range docs(t) {
		for i, line := range strings.Split(text, "\n") {
			for _, loc := range word.FindAllStringIndex(line, -1) {
				w := line[loc[0]:loc[1]]
				// ISEED_NATS_TLS_{CA,CERT,KEY} style prefixes
				if loc[1] < len(line) && (line[loc[1]] == '_' || line[loc[1]] == '*' || line[loc[1]] == '{') {
					continue
				}
				if known[w] || notVariables[w] || strings.HasPrefix(w, "ISEED_SIM_") && known[w] {
					continue
				}
				t.Errorf("%s:%d: %s is not a variable cmd/iseed reads", path, i+1, w)
			}
		}
	}
}

// TestDocsRunTestsThatExist: every `go test … -run X ./pkg/` in the docs
// (wrapped across two lines of prose too) names a package that exists and a
// test, benchmark or fuzz target in it.
func TestDocsRunTestsThatExist(t *testing.T) {
	cmd := regexp.MustCompile("go test ([^`\n]*)")
	for path, text := range docs(t) {
		for _, m := range cmd.FindAllStringSubmatch(joinSpans(text), -1) {
			args := strings.Fields(m[1])
			var pkgs, names []string
			for i, a := range args {
				switch {
				case strings.HasPrefix(a, "./"):
					pkgs = append(pkgs, strings.TrimSuffix(strings.TrimPrefix(a, "./"), "/"))
				case (a == "-run" || a == "-bench" || a == "-fuzz") && i+1 < len(args):
					names = append(names, strings.Trim(args[i+1], `'"`))
				case strings.HasPrefix(a, "-run=") || strings.HasPrefix(a, "-bench=") || strings.HasPrefix(a, "-fuzz="):
					names = append(names, strings.Trim(a[strings.Index(a, "=")+1:], `'"`))
				}
			}
			for _, p := range pkgs {
				if strings.HasSuffix(p, "...") {
					continue
				}
				src := testSources(t, p)
				if src == "" {
					t.Errorf("%s: %q names package ./%s, which has no tests", path, m[0], p)
					continue
				}
				for _, n := range names {
					if n == "" || n == "^$" || n == "." {
						continue
					}
					re, err := regexp.Compile(n)
					if err != nil {
						t.Errorf("%s: %q: %v", path, m[0], err)
						continue
					}
					if !hasFunc(src, re) {
						t.Errorf("%s: %q: no Test/Benchmark/Fuzz in ./%s matches %q", path, m[0], p, n)
					}
				}
			}
		}
	}
}

// joinSpans returns text with the line breaks inside its `…` spans made
// spaces, so that a command wrapped across two lines of prose reads as one;
// fenced blocks, one command a line, are left as they are.
func joinSpans(text string) string {
	var b strings.Builder
	fence, span := false, false
	for _, line := range strings.SplitAfter(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
		}
		if fence || strings.HasPrefix(strings.TrimSpace(line), "```") {
			b.WriteString(line)
			continue
		}
		span = span != (strings.Count(line, "`")%2 == 1)
		if span {
			line = strings.TrimSuffix(line, "\n") + " "
		}
		b.WriteString(line)
	}
	return b.String()
}

func testSources(t *testing.T, pkg string) string {
	files, _ := filepath.Glob(filepath.Join(root, pkg, "*_test.go"))
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

func hasFunc(src string, re *regexp.Regexp) bool {
	fn := regexp.MustCompile(`(?m)^func (Test|Benchmark|Fuzz)(\w*)\(`)
	for _, m := range fn.FindAllStringSubmatch(src, -1) {
		// -run matches against the whole name; -bench/-fuzz too.
		if re.MatchString(m[1] + m[2]) {
			return true
		}
	}
	return false
}

// TestDocsLinksResolve: every relative link in README.md and docs/ points
// to a file or directory of the repository.
func TestDocsLinksResolve(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	var broken []string
	for path, text := range docs(t) {
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p := filepath.Join(root, filepath.Dir(path), target)
			if _, err := os.Stat(p); err != nil {
				broken = append(broken, path+": "+target)
			}
		}
	}
	sort.Strings(broken)
	for _, b := range broken {
		t.Errorf("broken link %s", b)
	}
}

// TestLogDurationsCarryTheirUnit: a duration in a log line is a number of
// milliseconds (zerolog's Dur), so its key says so ("took_ms"); an operator
// reading "timeout": 30000 must not have to guess.
func TestLogDurationsCarryTheirUnit(t *testing.T) {
	dur := regexp.MustCompile(`\bDur\("([^"]+)"`)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range dur.FindAllStringSubmatch(string(data), -1) {
			if !strings.HasSuffix(m[1], "_ms") {
				t.Errorf("%s: log field %q is a duration in milliseconds: name it %q", path, m[1], m[1]+"_ms")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEventsDocNamesEveryReason: the Iseed-Reason row of docs/events.md's
// dead-letter headers names every reason iseed writes (dlq.Reasons): a
// consumer of dead letters switches on them.
func TestEventsDocNamesEveryReason(t *testing.T) {
	var row string
	for _, line := range strings.Split(read(t, "docs/events.md"), "\n") {
		if strings.HasPrefix(line, "| `Iseed-Reason` |") {
			row = line
		}
	}
	if row == "" {
		t.Fatal("docs/events.md has no `Iseed-Reason` row")
	}
	for _, reason := range dlq.Reasons() {
		if !strings.Contains(row, "`"+reason+"`") {
			t.Errorf("docs/events.md: the Iseed-Reason row does not name %q", reason)
		}
	}
}

// section returns the part of text from the heading "## name" to the next
// "## " heading.
func section(t *testing.T, path, text, name string) string {
	t.Helper()
	start := strings.Index(text, "\n## "+name+"\n")
	if start < 0 {
		t.Fatalf("%s has no %q section", path, "## "+name)
	}
	s := text[start+1:]
	if end := strings.Index(s[2:], "\n## "); end >= 0 {
		s = s[:end+2]
	}
	return s
}

// productionSources returns the module's non-test Go files, internal/,
// testdata and hidden directories aside.
func productionSources(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "internal") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exportedFuncs returns "pkg.Func" for every exported top-level function
// of the module's non-test Go files (internal/ and testdata aside) whose
// name match keeps.
func exportedFuncs(t *testing.T, keep func(name string) bool) []string {
	t.Helper()
	var out []string
	for _, path := range productionSources(t) {
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.IsExported() && keep(fn.Name.Name) {
				out = append(out, f.Name.Name+"."+fn.Name.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestEventsDocNamesEveryMessageID: the "Message ids" table of
// docs/events.md names every function that makes a Nats-Msg-Id or an
// event id (…MsgID…, …EventID): a consumer de-duplicates by them, and an
// operator reading a stream must be able to tell whose message is whose.
func TestEventsDocNamesEveryMessageID(t *testing.T) {
	table := section(t, "docs/events.md", read(t, "docs/events.md"), "Message ids")
	funcs := exportedFuncs(t, func(name string) bool {
		return strings.Contains(name, "MsgID") || strings.HasSuffix(name, "EventID")
	})
	if len(funcs) < 6 {
		t.Fatalf("found %v: the walk missed the id functions", funcs)
	}
	for _, f := range funcs {
		if !strings.Contains(table, "`"+f+"`") {
			t.Errorf("docs/events.md, Message ids: %s makes message ids, the table does not name it", f)
		}
	}
}

// metric is one metric iseed registers, as its source spells it.
type metric struct {
	typ    string   // counter, gauge, histogram, summary
	labels []string // sorted
	where  string   // file:line
}

// metricTypes maps the prometheus constructors to the type they make.
var metricTypes = map[string]string{
	"NewCounter": "counter", "NewCounterVec": "counter", "NewGauge": "gauge", "NewGaugeVec": "gauge",
	"NewHistogram": "histogram", "NewHistogramVec": "histogram", "NewSummary": "summary", "NewSummaryVec": "summary",
}

// registeredMetrics reads every metric the module's non-test Go files
// (internal/ aside) construct: prometheus.New…(…Opts{Namespace, Subsystem,
// Name}, []string{labels}), and the descriptions of a custom collector, a
// call of a constant "iseed_…" name with its help and labels (gauges, unless
// the file exports counter values).
func registeredMetrics(t *testing.T) map[string]metric {
	t.Helper()
	out := map[string]metric{}
	add := func(name string, m metric) {
		if prev, ok := out[name]; ok && prev.where != m.where {
			t.Errorf("%s is constructed twice: %s and %s", name, prev.where, m.where)
		}
		out[name] = m
	}
	for _, path := range productionSources(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "prometheus") {
			continue
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, path)
		names := map[string]string{} // constants naming metrics
		ast.Inspect(f, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if s, ok := stringLit(vs.Values[i]); ok && strings.HasPrefix(s, "iseed_") {
							names[id.Name] = s
						}
					}
				}
			}
			return true
		})
		descType := "gauge"
		if strings.Contains(string(src), "prometheus.CounterValue") {
			descType = "counter"
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			where := rel + ":" + strconv.Itoa(fset.Position(call.Pos()).Line)
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && metricTypes[sel.Sel.Name] != "" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "prometheus" {
					name, ok := optsName(call.Args[0])
					if !ok {
						t.Errorf("%s: a metric whose name is not spelt in its Opts", where)
						return true
					}
					var labels []string
					if len(call.Args) > 1 {
						labels = stringLits(call.Args[1])
					}
					sort.Strings(labels)
					add(name, metric{typ: metricTypes[sel.Sel.Name], labels: labels, where: where})
				}
				return true
			}
			if id, ok := call.Args[0].(*ast.Ident); ok && names[id.Name] != "" && len(call.Args) >= 2 {
				if _, ok := stringLit(call.Args[1]); !ok {
					return true // not a description: name, help, labels…
				}
				var labels []string
				for _, a := range call.Args[2:] {
					if s, ok := stringLit(a); ok {
						labels = append(labels, s)
					}
				}
				sort.Strings(labels)
				add(names[id.Name], metric{typ: descType, labels: labels, where: where})
			}
			return true
		})
	}
	if len(out) < 20 {
		t.Fatalf("found %d metrics in the source: the walk missed some", len(out))
	}
	return out
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

func stringLits(e ast.Expr) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range cl.Elts {
		if s, ok := stringLit(el); ok {
			out = append(out, s)
		}
	}
	return out
}

// optsName is the full name of prometheus.…Opts{Namespace, Subsystem, Name}.
func optsName(e ast.Expr) (string, bool) {
	if u, ok := e.(*ast.UnaryExpr); ok {
		e = u.X
	}
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return "", false
	}
	parts := map[string]string{}
	for _, el := range cl.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		k, _ := kv.Key.(*ast.Ident)
		if s, ok := stringLit(kv.Value); ok && k != nil {
			parts[k.Name] = s
		}
	}
	if parts["Name"] == "" {
		return "", false
	}
	var name []string
	for _, k := range []string{"Namespace", "Subsystem", "Name"} {
		if parts[k] != "" {
			name = append(name, parts[k])
		}
	}
	return strings.Join(name, "_"), true
}

// docMetric is a row of docs/operations.md's metrics table.
type docMetric struct {
	typ    string
	labels []string // sorted
	line   int
}

// operationsMetrics reads the metrics table of docs/operations.md: every
// `iseed_…` name of a row's first cell, with the row's type and the
// backquoted label names of its third cell.
func operationsMetrics(t *testing.T) map[string]docMetric {
	t.Helper()
	text := read(t, "docs/operations.md")
	sec := section(t, "docs/operations.md", text, "Metrics")
	offset := strings.Count(text[:strings.Index(text, sec)], "\n")
	out := map[string]docMetric{}
	name := regexp.MustCompile("`(iseed_[a-z0-9_]+)`")
	quoted := regexp.MustCompile("`([a-z_]+)`")
	for i, line := range strings.Split(sec, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 5 {
			continue
		}
		var labels []string
		for _, m := range quoted.FindAllStringSubmatch(cells[3], -1) {
			labels = append(labels, m[1])
		}
		sort.Strings(labels)
		for _, m := range name.FindAllStringSubmatch(cells[1], -1) {
			out[m[1]] = docMetric{typ: strings.TrimSpace(cells[2]), labels: labels, line: offset + i + 1}
		}
	}
	return out
}

// TestOperationsDocListsEveryMetric: docs/operations.md's metrics table has
// a row for every metric iseed registers, with its type and labels, and no
// row for one it does not; deploy/prometheus/metrics.txt (what the
// dashboard and rules may use) lists each with its type.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	code := registeredMetrics(t)
	doc := operationsMetrics(t)
	for name, m := range code {
		d, ok := doc[name]
		switch {
		case !ok:
			t.Errorf("docs/operations.md, Metrics: no row for %s (%s %s, labels %v)", name, m.where, m.typ, m.labels)
		case d.typ != m.typ:
			t.Errorf("docs/operations.md:%d: %s is a %s (%s), the table says %q", d.line, name, m.typ, m.where, d.typ)
		case strings.Join(d.labels, ",") != strings.Join(m.labels, ","):
			t.Errorf("docs/operations.md:%d: %s has labels %v (%s), the table says %v", d.line, name, m.labels, m.where, d.labels)
		}
	}
	for name, d := range doc {
		if _, ok := code[name]; !ok {
			t.Errorf("docs/operations.md:%d: %s is in the table, but iseed registers no such metric", d.line, name)
		}
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(read(t, "deploy/prometheus/metrics.txt"), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[2], "expected(") {
			continue
		}
		listed[f[0]] = true
		if m, ok := code[f[0]]; !ok {
			t.Errorf("deploy/prometheus/metrics.txt lists %s (source %s), which iseed does not register", f[0], f[2])
		} else if m.typ != f[1] {
			t.Errorf("deploy/prometheus/metrics.txt: %s is a %s (%s), the list says %s", f[0], m.typ, m.where, f[1])
		}
	}
	for name, m := range code {
		if !listed[name] {
			t.Errorf("deploy/prometheus/metrics.txt does not list %s (%s)", name, m.where)
		}
	}
}

// TestEventsDocNamesEveryDLQHeader: the header table of docs/events.md's
// "Dead letters" section names every header iseed writes on a dead letter
// (dlq.Header…, read from dlq/deadletter.go), and no other: whoever reads
// the DLQ (`nats stream view`, a script) goes by them.
func TestEventsDocNamesEveryDLQHeader(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, "dlq/deadletter.go"), nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	code := map[string]bool{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "Header") || i >= len(vs.Values) {
					continue
				}
				if s, ok := stringLit(vs.Values[i]); ok {
					code[s] = true
				}
			}
		}
	}
	if len(code) < 10 {
		t.Fatalf("found headers %v in dlq/deadletter.go: the parser missed the Header constants", code)
	}
	sec := section(t, "docs/events.md", read(t, "docs/events.md"), "Dead letters")
	doc := map[string]bool{}
	header := regexp.MustCompile("`(Iseed-[A-Za-z-]+)`")
	for _, line := range strings.Split(sec, "\n") {
		if cells := strings.Split(line, "|"); strings.HasPrefix(line, "| `") && len(cells) > 2 {
			for _, m := range header.FindAllStringSubmatch(cells[1], -1) {
				doc[m[1]] = true
			}
		}
	}
	for h := range code {
		if !doc[h] {
			t.Errorf("docs/events.md, Dead letters: the header table has no row for %s, which dlq.Publish writes", h)
		}
	}
	for h := range doc {
		if !code[h] {
			t.Errorf("docs/events.md, Dead letters: the header table names %s, which dlq.Publish does not write", h)
		}
	}
}

// TestDocsVariableTablesStateDefaults: a table of docs/ with a "variable |
// default" header (tracking.md's poll settings, money.md's) states each
// variable's default as README.md's does: the one cmd/iseed/config.go
// sets.
func TestDocsVariableTablesStateDefaults(t *testing.T) {
	defaults := map[string]string{}
	for _, v := range configVars(t) {
		defaults[v.name] = v.def
	}
	varRE := regexp.MustCompile("`(ISEED_[A-Z0-9_]+)`")
	tables := 0
	for path, text := range docs(t) {
		if path == "README.md" { // TestReadmeDocumentsEveryVariable
			continue
		}
		in := false
		for i, line := range strings.Split(text, "\n") {
			cells := strings.Split(line, "|")
			switch {
			case !strings.HasPrefix(line, "|"):
				in = false
			case len(cells) > 3 && strings.TrimSpace(cells[1]) == "variable" && strings.TrimSpace(cells[2]) == "default":
				in = true
				tables++
			case in && len(cells) > 3:
				def := strings.ReplaceAll(strings.TrimSpace(cells[2]), "`", "")
				for _, m := range varRE.FindAllStringSubmatch(cells[1], -1) {
					want, known := defaults[m[1]]
					switch {
					case !known:
						t.Errorf("%s:%d: %s is not a variable cmd/iseed reads", path, i+1, m[1])
					case want != "" && !strings.Contains(def, want):
						t.Errorf("%s:%d: %s defaults to %q in cmd/iseed/config.go, the table says %q", path, i+1, m[1], want, def)
					}
				}
			}
		}
	}
	if tables < 2 {
		t.Fatalf("found %d variable tables with a default column in docs/: the parser missed them", tables)
	}
}

// TestDocsNameTestsThatExist: every test, benchmark or fuzz target the docs
// name in prose (`TestShippedNATSPermissions` proves the grants) is one of
// the module's, or the start of some (`TestBrowser`, as -run takes it): a
// page that cites a renamed or removed test points at proof that is gone.
func TestDocsNameTestsThatExist(t *testing.T) {
	fn := regexp.MustCompile(`(?m)^func ((?:Test|Benchmark|Fuzz)\w*)\(`)
	var funcs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range fn.FindAllStringSubmatch(string(data), -1) {
			funcs = append(funcs, m[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) < 500 {
		t.Fatalf("found %d test functions: the walk missed them", len(funcs))
	}
	name := regexp.MustCompile(`\b(?:Test|Benchmark|Fuzz)[A-Z]\w*`)
	for path, text := range docs(t) {
		for _, n := range name.FindAllString(text, -1) {
			found := false
			for _, f := range funcs {
				if strings.HasPrefix(f, n) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s names %s, which no test of the module is or begins with", path, n)
			}
		}
	}
}

// TestDocsNameRealMetricsAndBuckets: an `iseed_…` name in a code span of
// the docs (a metric in a query, a bucket to look in) is a metric iseed
// registers (or a histogram's series of it) or one of the buckets layout
// names, a tenant's documents or files bucket included: an operator who
// types it finds something.
func TestDocsNameRealMetricsAndBuckets(t *testing.T) {
	known := map[string]bool{}
	for name := range registeredMetrics(t) {
		for _, s := range []string{"", "_bucket", "_sum", "_count"} {
			known[name+s] = true
		}
	}
	l := layout.Layout{Prefix: "iseed"}
	for _, b := range []string{l.RecordsBucket(), l.RequestsBucket(), l.SchemasBucket(), l.DocumentsBucket(),
		l.HistoryBucket(), l.BudgetsBucket(), l.BudgetUsageBucket(), l.HoldsBucket(), l.RateLimitBucket(), l.KeysBucket()} {
		known[b] = true
	}
	tenantBuckets := []string{l.TenantDocumentsBucket(""), l.FilesBucket("")}
	span := regexp.MustCompile("`[^`\n]*`")
	word := regexp.MustCompile(`iseed_[a-z0-9_]+`)
	for path, text := range docs(t) {
		for _, s := range span.FindAllString(joinSpans(text), -1) {
			for _, w := range word.FindAllString(s, -1) {
				if known[w] || slices.ContainsFunc(tenantBuckets, func(p string) bool { return strings.HasPrefix(w, p) }) {
					continue
				}
				t.Errorf("%s: %s is neither a metric iseed registers nor one of its buckets", path, w)
			}
		}
	}
}

// TestEventsDocExampleFingerprint: the fingerprint and message id
// docs/events.md gives for its example submission are the example's, as
// consumer computes them: a producer checks its own code against them.
func TestEventsDocExampleFingerprint(t *testing.T) {
	sec, sub := eventsDocExample(t)
	m := regexp.MustCompile("has the fingerprint `([0-9a-f]+)…` and the message id\\s+`([^`]+)`").FindStringSubmatch(sec)
	if m == nil {
		t.Fatal("docs/events.md: the example's fingerprint and message id are not stated as expected")
	}
	if fp := sub.Fingerprint(); !strings.HasPrefix(fp, m[1]) {
		t.Errorf("docs/events.md: the example's fingerprint is %s…, the page says %s…", fp[:16], m[1])
	}
	if id := publisher.SubmissionMsgID("acme", sub.ID, sub.Fingerprint()); id != m[2] {
		t.Errorf("docs/events.md: the example's message id as acme's is %s, the page says %s", id, m[2])
	}
}

// TestEventsDocClientUsesTheMessageID: the tenant's client in
// docs/events.md publishes the example submission with the message id the
// page asks for (publisher.SubmissionMsgID), not the earlier form it says
// shows the submission's id to other tenants: a producer copies the
// client, not the prose.
func TestEventsDocClientUsesTheMessageID(t *testing.T) {
	_, sub := eventsDocExample(t)
	want := publisher.SubmissionMsgID("acme", sub.ID, sub.Fingerprint())
	client := section(t, "docs/events.md", read(t, "docs/events.md"), "A tenant's client")
	sets := regexp.MustCompile(`MsgIDHeader, "([^"]*)"`).FindAllStringSubmatch(client, -1)
	if len(sets) == 0 {
		t.Fatal("docs/events.md, A tenant's client: sets no Nats-Msg-Id")
	}
	for _, m := range sets {
		if m[1] != want {
			t.Errorf("docs/events.md, A tenant's client: publishes the example as acme's with Nats-Msg-Id %s; the page asks for %s", m[1], want)
		}
	}
}

// eventsDocExample returns docs/events.md's section "Submission event
// (in), version 1" and its example submission, decoded.
func eventsDocExample(t *testing.T) (string, *consumer.Submission) {
	t.Helper()
	sec := section(t, "docs/events.md", read(t, "docs/events.md"), "Submission event (in), version 1")
	start := strings.Index(sec, "```json\n")
	if start < 0 {
		t.Fatal("docs/events.md, Submission event: no example")
	}
	example := sec[start+len("```json\n"):]
	example = example[:strings.Index(example, "```")]
	sub, err := consumer.DecodeSubmission([]byte(example))
	if err != nil {
		t.Fatalf("docs/events.md's example submission does not decode: %v", err)
	}
	return sec, sub
}
