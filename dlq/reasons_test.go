package dlq

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestReasonsListsEveryReason: every Reason… constant of reasons.go but
// ReasonUnknown is in Reasons, once: a reason added to the constants alone
// would be written on dead letters that `iseed dlq list --reason` refuses
// to select, that the console cannot filter by and that the
// iseed_dead_letters gauge reports only once one exists.
func TestReasonsListsEveryReason(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reasons.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var consts []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if !strings.HasPrefix(name.Name, "Reason") || name.Name == "ReasonUnknown" || i >= len(vs.Values) {
				continue
			}
			lit, ok := vs.Values[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				t.Fatalf("%s: not a string literal", name.Name)
			}
			v, _ := strconv.Unquote(lit.Value)
			consts = append(consts, v)
		}
		return true
	})
	if len(consts) < 10 {
		t.Fatalf("found %d reason constants in reasons.go: the parser missed them", len(consts))
	}
	got := Reasons()
	for _, c := range consts {
		if n := strings.Count(" "+strings.Join(got, " ")+" ", " "+c+" "); n != 1 {
			t.Errorf("Reasons() lists %q %d times, want once", c, n)
		}
	}
	if slices.Contains(got, ReasonUnknown) {
		t.Errorf("Reasons() lists %q, which iseed never writes", ReasonUnknown)
	}
	if len(got) != len(consts) {
		t.Errorf("Reasons(): got %d reasons, want the %d constants of reasons.go", len(got), len(consts))
	}
}
