package doccheck

import (
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// anchors returns the anchors GitHub makes of a Markdown page's headings:
// lower case, punctuation dropped, spaces as hyphens, a repeated one
// numbered.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fence := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
			continue
		}
		if fence || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(heading) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		a := b.String()
		if n := seen[a]; n > 0 {
			out[a+"-"+strconv.Itoa(n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// TestDocsAnchorsResolve: every link to a heading of README.md or docs/
// (`page.md#anchor`, or `#anchor` within a page) names a heading the page
// has: a renamed section leaves no link that lands at the top of a page.
func TestDocsAnchorsResolve(t *testing.T) {
	all := docs(t)
	link := regexp.MustCompile(`\]\(([^)#\s]*)#([^)\s]+)\)`)
	var broken []string
	for path, text := range all {
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := path
			if m[1] != "" {
				if strings.Contains(m[1], "://") || !strings.HasSuffix(m[1], ".md") {
					continue
				}
				target = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(path), m[1])))
			}
			page, ok := all[target]
			if !ok {
				continue // TestDocsLinksResolve
			}
			if !anchors(page)[m[2]] {
				broken = append(broken, path+": "+m[1]+"#"+m[2])
			}
		}
	}
	sort.Strings(broken)
	for _, b := range broken {
		t.Errorf("link to a heading that does not exist: %s", b)
	}
}
