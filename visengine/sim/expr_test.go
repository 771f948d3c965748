package sim

import "testing"

func TestExpr(t *testing.T) {
	tests := []struct {
		expr    string
		present []int
		want    bool
	}{
		{"", nil, true},
		{"   ", nil, true},
		{"$0 && $1  ", []int{0, 1}, true},
		{"$0 && $1  ", []int{0}, false},
		{"$0||$1", []int{1}, true},
		{"$0 || $1 && $2", []int{0}, true},    // && binds tighter
		{"$0 || $1 && $2", []int{1}, false},   // ($1 && $2) fails, $0 absent
		{"($0 || $1) && $2", []int{0}, false}, // parentheses regroup
		{"($0 || $1) && $2", []int{1, 2}, true},
		{"$1", []int{10}, false}, // $1 is not $10
		{"$10", []int{1}, false}, // nor $10 $1
		{"$10 && $1", []int{1, 10}, true},
		{"( ( $3 ) )", []int{3}, true},
		{iseeValidation, []int{0, 1, 2, 3, 4, 5, 6}, true},
		{iseeValidation, []int{0, 1, 2, 3, 4, 5, 7}, false},
		{iseeValidation, []int{0, 1, 2, 3, 4, 5, 6, 7}, true},
	}
	for _, tt := range tests {
		e, err := parseExpr(tt.expr)
		if err != nil {
			t.Fatalf("parseExpr(%q): %v", tt.expr, err)
		}
		set := map[int]bool{}
		for _, i := range tt.present {
			set[i] = true
		}
		if got := e.eval(func(i int) bool { return set[i] }); got != tt.want {
			t.Errorf("eval(%q) with %v: got %v, want %v", tt.expr, tt.present, got, tt.want)
		}
	}
}

func TestExprErrors(t *testing.T) {
	for _, s := range []string{"$", "$0 &&", "($0", "$0 $1", "$0 & $1", "0", "$0)", "&& $0", "$a"} {
		if _, err := parseExpr(s); err == nil {
			t.Errorf("parseExpr(%q): got nil error, want one", s)
		}
	}
}

func TestPresentTrimsBlanks(t *testing.T) {
	values := []fieldValue{{v: "x", set: true}, {v: "  \t", set: true}, {}}
	present := presentIn(values)
	for i, want := range []bool{true, false, false, false} {
		if got := present(i); got != want {
			t.Errorf("present(%d): got %v, want %v", i, got, want)
		}
	}
}

func TestElidePayload(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ci.pdf|data:application/pdf;base64,JVBERi0=", "ci.pdf|data:application/pdf;base64,"},
		{"https://example.com/ci.pdf", "https://example.com/ci.pdf"},
		{"plain;base64,abc", "plain;base64,abc"},
	}
	for _, tt := range tests {
		if got := elidePayload(tt.in); got != tt.want {
			t.Errorf("elidePayload(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a@b.it", true},
		{"mario.rossi+isee@example.co.uk", true},
		{"", false},
		{"nope", false},
		{"a@b", false},
		{"a@@b.it", false},
		{"@b.it", false},
		{"a b@c.it", false},
		{"a@b..it", false},
		{"Mario <a@b.it>", false},
	}
	for _, tt := range tests {
		if got := validEmail(tt.in); got != tt.want {
			t.Errorf("validEmail(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}
