package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// declared returns what the package in dir (relative to the root)
// declares outside its tests: its top-level names, and "Type.Name" for a
// type's methods, struct fields and interface methods.
func declared(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			declare(names, d)
		}
	}
	return names
}

// declare adds what one top-level declaration names.
func declare(names map[string]bool, d ast.Decl) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil || len(d.Recv.List) == 0 {
			names[d.Name.Name] = true
			return
		}
		typ := d.Recv.List[0].Type
		if s, ok := typ.(*ast.StarExpr); ok {
			typ = s.X
		}
		if g, ok := typ.(*ast.IndexExpr); ok {
			typ = g.X
		}
		if id, ok := typ.(*ast.Ident); ok {
			names[id.Name+"."+d.Name.Name] = true
		}
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.ValueSpec:
				for _, n := range s.Names {
					names[n.Name] = true
				}
			case *ast.TypeSpec:
				names[s.Name.Name] = true
				var fields *ast.FieldList
				switch typ := s.Type.(type) {
				case *ast.StructType:
					fields = typ.Fields
				case *ast.InterfaceType:
					fields = typ.Methods
				}
				if fields == nil {
					continue
				}
				for _, f := range fields.List {
					for _, n := range f.Names {
						names[s.Name.Name+"."+n.Name] = true
					}
				}
			}
		}
	}
}

// identTexts returns, by file, the code spans of README.md and docs/ and
// the whole of every package's doc.go (package docs name identifiers
// without backticks: budget.Budgets.Reserve).
func identTexts(t *testing.T, span *regexp.Regexp) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for file, text := range docs(t) {
		out[file] = span.FindAllString(text, -1)
	}
	for _, p := range goPackages(t) {
		file := path.Join(p, "doc.go")
		if _, err := os.Stat(filepath.Join(root, file)); err == nil {
			out[file] = []string{read(t, file)}
		}
	}
	return out
}

// TestDocsNameGoIdentifiersThatExist: an exported identifier of one of the
// module's packages named in a code span of README.md or docs/, or in a
// package's doc.go,
// (`dlq.Reasons`, `sim.DefaultCatalog`, `record.Record.Scrub`,
// `schema.Service.PriceUnknown`) is declared by that package: a function,
// type, method or field renamed or removed leaves no page sending a
// newcomer to look for it. The package is named as Go code names it, by
// its last path element; a name two packages share is not checked.
func TestDocsNameGoIdentifiersThatExist(t *testing.T) {
	dirs := map[string]string{}
	for _, p := range goPackages(t) {
		name := path.Base(p)
		if _, dup := dirs[name]; dup || p == "." || strings.HasPrefix(p, "cmd/") {
			dirs[name] = "" // ambiguous, or package main
			continue
		}
		dirs[name] = p
	}
	span := regexp.MustCompile("`[^`\n]+`")
	ref := regexp.MustCompile(`(?:^|[^A-Za-z0-9_./<-])([a-z][a-z0-9]*)\.([A-Z][A-Za-z0-9_]*)(?:\.([A-Z][A-Za-z0-9_]*))?`)
	decls := map[string]map[string]bool{}
	var missing []string
	checked := 0
	for file, spans := range identTexts(t, span) {
		for _, s := range spans {
			for _, m := range ref.FindAllStringSubmatch(s, -1) {
				dir := dirs[m[1]]
				if dir == "" {
					continue // another module's package (json.Marshal), or none
				}
				if decls[dir] == nil {
					decls[dir] = declared(t, dir)
				}
				checked++
				name := m[2]
				if m[3] != "" {
					name += "." + m[3]
				}
				if !decls[dir][name] {
					missing = append(missing, file+": "+m[1]+"."+name+" ("+dir+")")
				}
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked %d identifiers: the pattern missed them", checked)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("names an identifier its package does not declare: %s", m)
	}
}

// TestDocsNameFunctionsWhereTheyAre: a name the docs place in a file
// (`fail` (`consumer/adopt.go`), `kindOf` in `schema/checks.go`) is
// declared in that file, as a function, method, type, constant or
// variable: unexported names have no package to check them against.
func TestDocsNameFunctionsWhereTheyAre(t *testing.T) {
	placed := regexp.MustCompile("`([A-Za-z_][A-Za-z0-9_]*)`(?:\\s+in\\s+|,?\\s+\\()`([a-z0-9_/]+\\.go)`")
	checked := 0
	for file, text := range docs(t) {
		for _, m := range placed.FindAllStringSubmatch(text, -1) {
			checked++
			if !fileDeclares(t, m[2], m[1]) {
				t.Errorf("%s: %s does not declare %s", file, m[2], m[1])
			}
		}
	}
	if checked < 3 {
		t.Fatalf("checked %d names: the pattern missed them", checked)
	}
}

// fileDeclares reports whether the Go file at name (relative to the root)
// declares ident at its top level or as a method.
func fileDeclares(t *testing.T, name, ident string) bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, name), nil, parser.SkipObjectResolution)
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return true
	}
	names := map[string]bool{}
	for _, d := range f.Decls {
		declare(names, d)
		if fd, ok := d.(*ast.FuncDecl); ok {
			names[fd.Name.Name] = true
		}
	}
	return names[ident]
}
