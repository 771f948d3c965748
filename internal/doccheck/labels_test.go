package doccheck

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/visengine"
)

// labelBullet returns the bullet of docs/operations.md's list of label
// values that starts with "- `label`", joined into one line.
func labelBullet(t *testing.T, text, label string) string {
	t.Helper()
	start := strings.Index(text, "\n- `"+label+"`")
	if start < 0 {
		t.Fatalf("docs/operations.md has no bullet for the label %q", label)
	}
	b := text[start+1:]
	if end := strings.Index(b[1:], "\n- "); end >= 0 {
		b = b[:end+1]
	}
	if end := strings.Index(b, "\n\n"); end >= 0 {
		b = b[:end]
	}
	return strings.Join(strings.Fields(b), " ")
}

// TestOperationsDocNamesEveryLabelValue: docs/operations.md names every
// value iseed gives the labels an operator queries by: each outcome of the
// pipeline, each class of an upstream POST, each answer of the callback
// handler (its table, and no row for an outcome that does not exist).
func TestOperationsDocNamesEveryLabelValue(t *testing.T) {
	text := read(t, "docs/operations.md")
	outcome := labelBullet(t, text, "outcome")
	for k := consumer.Done; k <= consumer.Held; k++ {
		if !strings.Contains(outcome, "`"+k.String()+"`") {
			t.Errorf("docs/operations.md: the outcome %q of iseed_submission_outcomes_total is not named", k)
		}
	}
	class := labelBullet(t, text, "class")
	for c := visengine.ClassRetryable; c <= visengine.ClassAmbiguous; c++ {
		if !strings.Contains(class, "`"+c.String()+"`") {
			t.Errorf("docs/operations.md: the class %q of iseed_upstream_create_requests_total is not named", c)
		}
	}

	code := read(t, "tracking/metrics.go")
	var want []string
	for _, m := range regexp.MustCompile(`callbackOutcome = "([a-z_]+)"`).FindAllStringSubmatch(code, -1) {
		want = append(want, m[1])
	}
	if len(want) < 10 {
		t.Fatalf("found %d callback outcomes in tracking/metrics.go: the parser missed them", len(want))
	}
	rows := memberRows(text, "outcome")
	for _, o := range want {
		if !rows[o] {
			t.Errorf("docs/operations.md: no row for the callback outcome %q", o)
		}
		delete(rows, o)
	}
	var extra []string
	for o := range rows {
		extra = append(extra, o)
	}
	sort.Strings(extra)
	for _, o := range extra {
		t.Errorf("docs/operations.md: a row for the callback outcome %q, which tracking does not give", o)
	}
}
