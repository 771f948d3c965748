package doccheck

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// goPackages returns the directories of the module that hold a Go package
// (testdata, hidden directories and docs/ aside), relative to the root.
func goPackages(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "docs") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") {
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			seen[filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// TestReadmeLayoutNamesEveryPackage: README.md's Layout table names every
// package of the module (`consumer/`, `visengine/sim/`; a package of
// internal/ by its name in the `internal/` row), so that a newcomer finds
// where each part lives and what it is for.
func TestReadmeLayoutNamesEveryPackage(t *testing.T) {
	sec := section(t, "README.md", read(t, "README.md"), "Layout")
	var internalRow string
	for _, line := range strings.Split(sec, "\n") {
		if strings.HasPrefix(line, "| `internal/` |") {
			internalRow = line
		}
	}
	if internalRow == "" {
		t.Fatal("README.md, Layout: no `internal/` row")
	}
	pkgs := goPackages(t)
	if len(pkgs) < 20 {
		t.Fatalf("found packages %v: the walk missed some", pkgs)
	}
	for _, p := range pkgs {
		if name, ok := strings.CutPrefix(p, "internal/"); ok {
			if !strings.Contains(internalRow, "`"+name+"`") {
				t.Errorf("README.md, Layout: the `internal/` row does not name %s", p)
			}
			continue
		}
		if !strings.Contains(sec, "`"+p+"`") && !strings.Contains(sec, "`"+p+"/`") {
			t.Errorf("README.md, Layout: no row names %s", p)
		}
	}
}
