package schema

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// identity maps $N to slot N for every N below maxFields.
func identity(n int) (int, bool) { return n, n < maxFields }

// presentSet builds the set of present slots.
func presentSet(slots ...int) *fieldSet {
	var s fieldSet
	for _, i := range slots {
		s.add(i)
	}
	return &s
}

func TestRuleEval(t *testing.T) {
	isee := "($0 && $1 && $2 && $3 && $4 && $5 && $6 && $7) || ($0 && $1 && $2 && $3 && $4 && $5 && $6)"
	tests := []struct {
		expr    string
		present []int
		want    bool
	}{
		{"$0", []int{0}, true},
		{"$0", nil, false},
		{"$0 && $1  ", []int{0, 1}, true},
		{"$0 && $1  ", []int{0}, false},
		{"$0 || $1", []int{1}, true},
		// && binds tighter than ||: $0 || ($1 && $2)
		{"$0 || $1 && $2", []int{0}, true},
		{"$0 || $1 && $2", []int{1}, false},
		{"$0 || $1 && $2", []int{1, 2}, true},
		// and the other way round: ($0 && $1) || $2
		{"$0 && $1 || $2", []int{2}, true},
		{"$0 && $1 || $2", []int{0}, false},
		{"($0 || $1) && $2", []int{0}, false},
		{"($0 || $1) && $2", []int{1, 2}, true},
		// $1 never matches $10, nor $10 $1
		{"$1", []int{10}, false},
		{"$10", []int{1}, false},
		{"$10", []int{1, 0}, false},
		{"$10", []int{10}, true},
		{"$1 && $10", []int{1, 10}, true},
		{"$1 && $10", []int{10, 11}, false},
		{"$255", []int{255}, true},
		// any whitespace, or none
		{"$0&&$1", []int{0, 1}, true},
		{"\t$0 \n&&\r\n $1\u00a0", []int{0, 1}, true},
		{"(((($3))))", []int{3}, true},
		{"", nil, true},
		{"   ", nil, true},
		{isee, []int{0, 1, 2, 3, 4, 5, 6}, true},
		{isee, []int{0, 1, 2, 3, 4, 5, 6, 7}, true},
		{isee, []int{0, 1, 2, 3, 4, 5, 7}, false},
		{isee, []int{1, 2, 3, 4, 5, 6, 7}, false},
	}
	for _, tt := range tests {
		r, err := compileRule(tt.expr, identity)
		if err != nil {
			t.Errorf("compileRule(%q): %v", tt.expr, err)
			continue
		}
		if got := r.eval(presentSet(tt.present...)); got != tt.want {
			t.Errorf("%q with %v present = %v, want %v", tt.expr, tt.present, got, tt.want)
		}
	}
}

func TestRuleErrors(t *testing.T) {
	tests := []struct {
		expr string
		pos  int
		msg  string
	}{
		{"$", 1, "followed by a field number"},
		{"$0 &&", 5, "unexpected end"},
		{"$0 & $1", 3, "unexpected"},
		{"$0 | $1", 3, "unexpected"},
		{"$0 $1", 3, "expected && or ||"},
		{"($0 && $1", 9, "missing ')' for the '(' at offset 0"},
		{"$0)", 2, "unexpected"},
		{"()", 1, "expected $N"},
		{"$01", 1, "leading zero"},
		{"$1234567", 1, "too long"},
		{"$-1", 1, "followed by a field number"},
		{"0", 0, "expected $N"},
		{"$0 && x", 6, "expected $N"},
		{"$0 || $256", 6, "$256 is not a field"},
		{strings.Repeat("(", maxDepth+1) + "$0" + strings.Repeat(")", maxDepth+1), maxDepth, "nested deeper"},
		{pairs(9), 0, "more than 256 alternatives"},
		{pairs(8) + " && (" + pairs(3) + ")", 0, "expands into more than 1024"},
	}
	for _, tt := range tests {
		_, err := compileRule(tt.expr, identity)
		var re *ruleError
		if !errors.As(err, &re) {
			t.Errorf("compileRule(%q) = %v, want a *ruleError", tt.expr, err)
			continue
		}
		if !strings.Contains(re.msg, tt.msg) || (tt.pos != 0 && re.pos != tt.pos) {
			t.Errorf("compileRule(%q) = offset %d %q, want offset %d and %q", tt.expr, re.pos, re.msg, tt.pos, tt.msg)
		}
	}
}

func TestRuleSimplifies(t *testing.T) {
	tests := []struct {
		expr  string
		terms int
	}{
		{"$0 || $0", 1},
		{"$0 || $0 && $1", 1},
		{"($0 && $1) || $0", 1},
		{"($0 || $1) && ($2 || $3)", 4},
		{"($0 || $1) && ($0 || $1)", 2},
		{strings.Repeat("($0 || $1) && ", 40) + "$2", 2},
	}
	for _, tt := range tests {
		r, err := compileRule(tt.expr, identity)
		if err != nil {
			t.Errorf("compileRule(%q): %v", tt.expr, err)
			continue
		}
		if len(r.terms) != tt.terms {
			t.Errorf("compileRule(%q) has %d alternatives, want %d", tt.expr, len(r.terms), tt.terms)
		}
	}
}

func TestRuleClosest(t *testing.T) {
	tests := []struct {
		expr    string
		present []int
		term    int
		missing []int
	}{
		{"($0 && $1 && $2) || ($3 && $4)", []int{0, 1}, 0, []int{2}},
		{"($0 && $1 && $2) || ($3 && $4)", []int{3}, 1, []int{4}},
		{"($0 && $1) || ($2 && $3)", nil, 0, []int{0, 1}}, // ties go to the first
		{"$0 || $1", nil, 0, []int{0}},
	}
	for _, tt := range tests {
		r, err := compileRule(tt.expr, identity)
		if err != nil {
			t.Fatalf("compileRule(%q): %v", tt.expr, err)
		}
		term, missing := r.closest(presentSet(tt.present...))
		if got := missing.slots(); term != tt.term || !slices.Equal(got, tt.missing) {
			t.Errorf("closest(%q, %v) = %d %v, want %d %v", tt.expr, tt.present, term, got, tt.term, tt.missing)
		}
	}
}

func TestRuleEvalAllocatesNothing(t *testing.T) {
	r, err := compileRule("($0 && $1 && $2 && $3 && $4 && $5 && $6 && $7) || ($0 && $1 && $2 && $3 && $4 && $5 && $6)", identity)
	if err != nil {
		t.Fatal(err)
	}
	present := presentSet(0, 1, 2, 3, 4, 5)
	if n := testing.AllocsPerRun(100, func() { r.eval(present) }); n != 0 {
		t.Errorf("eval allocates %v times, want 0", n)
	}
}

// pairs returns ($0 || $1) && ($2 || $3) && … with n pairs: 2^n alternatives.
func pairs(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("($%d || $%d)", 2*i, 2*i+1)
	}
	return strings.Join(parts, " && ")
}
