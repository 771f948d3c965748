package doccheck

import (
	"regexp"
	"strings"
	"testing"
)

// TestOperationsDocListsEveryAlert: docs/operations.md's table of alerts
// has a row for every alert deploy/prometheus/alerts.yaml ships, with its
// severity, and none for an alert it does not ship: an operator decides
// whom to wake by that table.
func TestOperationsDocListsEveryAlert(t *testing.T) {
	rules := read(t, "deploy/prometheus/alerts.yaml")
	shipped := map[string]string{}
	for _, block := range strings.Split(rules, "- alert: ")[1:] {
		name, _, _ := strings.Cut(block, "\n")
		m := regexp.MustCompile(`\n\s+severity: (\w+)`).FindStringSubmatch(block)
		if m == nil {
			t.Errorf("deploy/prometheus/alerts.yaml: %s has no severity", name)
			continue
		}
		shipped[strings.TrimSpace(name)] = m[1]
	}
	if len(shipped) < 10 {
		t.Fatalf("found %d alerts in deploy/prometheus/alerts.yaml: the parser missed them", len(shipped))
	}
	row := regexp.MustCompile(`(?m)^\| (Iseed[A-Za-z]+) \|.*\| (\w+) \|$`)
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(read(t, "docs/operations.md"), -1) {
		name, severity := m[1], m[2]
		documented[name] = true
		switch want, ok := shipped[name]; {
		case !ok:
			t.Errorf("docs/operations.md: a row for the alert %s, which deploy/prometheus/alerts.yaml does not ship", name)
		case severity != want:
			t.Errorf("docs/operations.md: %s is %s, but deploy/prometheus/alerts.yaml makes it %s", name, severity, want)
		}
	}
	for name := range shipped {
		if !documented[name] {
			t.Errorf("docs/operations.md: no row for the alert %s", name)
		}
	}
}
