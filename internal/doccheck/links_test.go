package doccheck

import (
	"os"
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

// TestDocsCodePathsExist: a path of the repository the docs name in code
// (`consumer/adopt.go`, `deploy/prometheus/metrics.txt`, `deploy/grafana/`)
// exists, as a link's target must: a file moved or renamed leaves no page
// pointing a reader at nothing. A path counts when its first element is a
// directory of the repository's root; placeholders (`<tenant>`, `*`, `…`)
// are not paths.
func TestDocsCodePathsExist(t *testing.T) {
	span := regexp.MustCompile("`([A-Za-z0-9_.-]+/[A-Za-z0-9_./-]*)`")
	var missing []string
	checked := 0
	for path, text := range docs(t) {
		for _, m := range span.FindAllStringSubmatch(text, -1) {
			p := m[1]
			top := p[:strings.Index(p, "/")]
			if st, err := os.Stat(filepath.Join(root, top)); err != nil || !st.IsDir() || strings.HasPrefix(top, ".") && top != ".ci" {
				continue // a module path (sony/gobreaker), a MIME type, a Kubernetes object
			}
			checked++
			if pkg, ident, ok := strings.Cut(p, "."); ok && !strings.Contains(ident, "/") && ident != "" && ident[0] >= 'A' && ident[0] <= 'Z' {
				p = pkg // a package's identifier: internal/scale.Workload
			}
			if _, err := os.Stat(filepath.Join(root, p)); err != nil {
				missing = append(missing, path+": "+p)
			}
		}
	}
	if checked < 50 {
		t.Fatalf("checked %d paths: the pattern missed them", checked)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("names a path the repository does not have: %s", m)
	}
}
