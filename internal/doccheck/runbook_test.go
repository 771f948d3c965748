package doccheck

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOverdueRunbookListsTheOverdue: the IseedOverdueRequests runbook's
// `iseed track list --older-than D` lists the requests the overview counts
// overdue: open longer than the default ISEED_OVERDUE_WORKDAYS, in calendar
// time five working days a week (cmd/iseed's overdueSpan), not what an
// earlier calendar-day setting was.
func TestOverdueRunbookListsTheOverdue(t *testing.T) {
	var workdays int
	for _, v := range configVars(t) {
		if v.name == "ISEED_OVERDUE_WORKDAYS" {
			n, err := strconv.Atoi(v.def)
			if err != nil {
				t.Fatalf("ISEED_OVERDUE_WORKDAYS defaults to %q: %v", v.def, err)
			}
			workdays = n
		}
	}
	if workdays == 0 {
		t.Fatal("cmd/iseed/config.go has no ISEED_OVERDUE_WORKDAYS default")
	}
	want := time.Duration(workdays) * 7 * 24 * time.Hour / 5
	text := read(t, "docs/operations.md")
	start := strings.Index(text, "\n### IseedOverdueRequests\n")
	if start < 0 {
		t.Fatal("docs/operations.md has no IseedOverdueRequests runbook")
	}
	entry := text[start+1:]
	if end := strings.Index(entry[4:], "\n### "); end >= 0 {
		entry = entry[:end+4]
	}
	m := regexp.MustCompile("`iseed track list --older-than (\\S+)`").FindStringSubmatch(entry)
	if m == nil {
		t.Fatal("docs/operations.md, IseedOverdueRequests: no `iseed track list --older-than D`")
	}
	got, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatalf("docs/operations.md, IseedOverdueRequests: --older-than %s: %v", m[1], err)
	}
	if got != want {
		t.Errorf("docs/operations.md, IseedOverdueRequests: --older-than %s lists requests open longer than %s; the overview counts overdue those open longer than %d working days, %s",
			m[1], got, workdays, strings.TrimSuffix(want.String(), "0m0s"))
	}
}
