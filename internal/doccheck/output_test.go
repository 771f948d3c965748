package doccheck

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestReadmeNamesEveryCommandThatPrintsRecords: README.md's list of "the
// commands that print records", which choose a table or JSON with -o, is
// the commands of docs/cli.md that take -o for it (document get's -o names
// a file instead), so that an operator scripting one knows it speaks JSON.
func TestReadmeNamesEveryCommandThatPrintsRecords(t *testing.T) {
	readme := strings.Join(strings.Fields(read(t, "README.md")), " ")
	start := strings.Index(readme, "The commands that print records (")
	if start < 0 {
		t.Fatal(`README.md has no "The commands that print records (…)" sentence`)
	}
	list := readme[start:]
	list = list[:strings.Index(list, ")")]
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`([a-z ]+)`").FindAllStringSubmatch(list, -1) {
		listed["iseed "+m[1]] = true
	}
	var missing []string
	named := map[string]bool{}
	for cmd, flags := range cliFlags(t) {
		if !flags["-o"] || cmd == "iseed document get" {
			continue
		}
		group := cmd[:strings.LastIndex(cmd, " ")]
		switch {
		case listed[cmd]:
			named[cmd] = true
		case listed[group]: // `schemas`: its verbs
			named[group] = true
		default:
			missing = append(missing, cmd)
		}
	}
	sort.Strings(missing)
	for _, cmd := range missing {
		t.Errorf("README.md: %s takes -o table|json, but is not among the commands that print records", cmd)
	}
	for cmd := range listed {
		if !named[cmd] {
			t.Errorf("README.md: %s is among the commands that print records, but takes no -o (docs/cli.md)", cmd)
		}
	}
}
