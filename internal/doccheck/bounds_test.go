package doccheck

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// boundWords maps how cmd/iseed refuses a variable ("ISEED_X must be
// positive") to the words its README row must use to say so.
var boundWords = []struct {
	refusal *regexp.Regexp
	says    func(row string, m []string) bool
}{
	{regexp.MustCompile(`must be positive`), func(row string, _ []string) bool {
		return strings.Contains(row, "positive")
	}},
	{regexp.MustCompile(`must not be negative`), func(row string, _ []string) bool {
		return strings.Contains(row, "not negative")
	}},
	{regexp.MustCompile(`must be between (\d+) and (\d+)`), func(row string, m []string) bool {
		return strings.Contains(row, m[1]+" to "+m[2])
	}},
	{regexp.MustCompile(`must be at least`), func(row string, _ []string) bool {
		return strings.Contains(strings.ToLower(row), "at least")
	}},
}

// TestReadmeStatesEveryBound: a variable cmd/iseed refuses out of bounds
// at start ("ISEED_WORKERS must be between 1 and 1024") has a README row
// that states the bound, so that an operator learns it from the table, not
// from a daemon that will not start.
func TestReadmeStatesEveryBound(t *testing.T) {
	rows := readmeFullRows(t)
	names, err := filepath.Glob(filepath.Join(root, "cmd", "iseed", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	refusal := regexp.MustCompile(`bad\("(ISEED_[A-Z0-9_]+) (?:\([^)]*\) )?(must [^"(,]*)`)
	checked := 0
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range refusal.FindAllStringSubmatch(string(b), -1) {
			variable, words := m[1], m[2]
			for _, w := range boundWords {
				bm := w.refusal.FindStringSubmatch(words)
				if bm == nil {
					continue
				}
				checked++
				row, ok := rows[variable]
				if !ok {
					t.Errorf("README.md has no row for %s", variable)
				} else if !w.says(row, bm) {
					t.Errorf("README.md's row for %s does not say that it %s (%s)", variable, strings.TrimSpace(words), filepath.Base(n))
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("found %d bounds in cmd/iseed: the parser missed them", checked)
	}
}

// readmeFullRows maps each variable named in the first cell of a row of
// the README's configuration tables to the whole row.
func readmeFullRows(t *testing.T) map[string]string {
	t.Helper()
	readme := read(t, "README.md")
	start := strings.Index(readme, "\n## Configuration")
	if start < 0 {
		t.Fatal(`README.md has no "## Configuration" section`)
	}
	section := readme[start+1:]
	if end := strings.Index(section[2:], "\n## "); end >= 0 {
		section = section[:end+2]
	}
	rows := map[string]string{}
	varRE := regexp.MustCompile("`(ISEED_[A-Z0-9_]+)`")
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "|") {
			continue
		}
		for _, m := range varRE.FindAllStringSubmatch(cells[1], -1) {
			rows[m[1]] = line
		}
	}
	return rows
}
