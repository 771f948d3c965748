package schema

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the compiled form. A service with more fields, or a validazione
// with more alternatives or deeper nesting, is a schema error.
const (
	maxFields   = 256  // field presence is a fixed-size bitset: evaluation allocates nothing
	maxTerms    = 256  // alternatives after expanding the rule into a disjunction
	maxRawTerms = 1024 // alternatives of one product before simplification
	maxDepth    = 64   // nested parentheses
	maxIndexLen = 6    // digits of $N
)

// fieldSet is a set of field slots (positions in Service.Fields).
type fieldSet [maxFields / 64]uint64

func (s *fieldSet) add(i int)      { s[i>>6] |= 1 << (uint(i) & 63) }
func (s *fieldSet) has(i int) bool { return s[i>>6]&(1<<(uint(i)&63)) != 0 }

// subsetOf reports whether every member of s is in t.
func (s *fieldSet) subsetOf(t *fieldSet) bool {
	return s[0]&^t[0] == 0 && s[1]&^t[1] == 0 && s[2]&^t[2] == 0 && s[3]&^t[3] == 0
}

func (s *fieldSet) union(t *fieldSet) fieldSet {
	return fieldSet{s[0] | t[0], s[1] | t[1], s[2] | t[2], s[3] | t[3]}
}

func (s *fieldSet) intersect(t *fieldSet) fieldSet {
	return fieldSet{s[0] & t[0], s[1] & t[1], s[2] & t[2], s[3] & t[3]}
}

func (s *fieldSet) minus(t *fieldSet) fieldSet {
	return fieldSet{s[0] &^ t[0], s[1] &^ t[1], s[2] &^ t[2], s[3] &^ t[3]}
}

func (s *fieldSet) len() int {
	return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) + bits.OnesCount64(s[2]) + bits.OnesCount64(s[3])
}

// slots returns the members of s in ascending order.
func (s *fieldSet) slots() []int {
	var out []int
	for i := range maxFields {
		if s.has(i) {
			out = append(out, i)
		}
	}
	return out
}

// rule is a compiled validazione: true when every field of at least one
// term is present. The empty rule (no validazione) has one empty term.
type rule struct {
	src   string
	terms []fieldSet // in source order, without duplicates or absorbed terms
}

// eval reports whether the present fields satisfy the rule. It allocates nothing.
func (r *rule) eval(present *fieldSet) bool {
	for i := range r.terms {
		if r.terms[i].subsetOf(present) {
			return true
		}
	}
	return false
}

// empty reports whether the rule is the empty expression, which is always
// true. A non-empty expression never compiles to an empty term: every
// factor names a field.
func (r *rule) empty() bool {
	return len(r.terms) == 1 && r.terms[0] == fieldSet{}
}

// needed returns the fields every term needs: the fields without which the
// rule cannot be true.
func (r *rule) needed() fieldSet {
	var out fieldSet
	for i := range r.terms {
		if i == 0 {
			out = r.terms[0]
			continue
		}
		out = out.intersect(&r.terms[i])
	}
	return out
}

// closest returns the term needing the fewest fields beyond present (the
// first such term on ties), and the fields it still needs.
func (r *rule) closest(present *fieldSet) (term int, missing fieldSet) {
	best := maxFields + 1
	for i := range r.terms {
		m := r.terms[i].minus(present)
		if n := m.len(); n < best {
			best, term, missing = n, i, m
		}
	}
	return term, missing
}

// compileRule parses src. slot maps a field index ($N) to its slot and
// reports whether the field exists.
func compileRule(src string, slot func(index int) (int, bool)) (*rule, error) {
	p := &ruleParser{src: src, slot: slot}
	p.skipSpace()
	if p.pos == len(src) {
		return &rule{src: src, terms: []fieldSet{{}}}, nil
	}
	terms, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(src) {
		return nil, p.errorf("unexpected %s; expected && or ||", p.near())
	}
	return &rule{src: src, terms: terms}, nil
}

// ruleParser is a recursive-descent parser that expands the expression into
// a disjunction of conjunctions while parsing:
//
//	or     = and { "||" and }
//	and    = factor { "&&" factor }
//	factor = "$" digits | "(" or ")"
type ruleParser struct {
	src   string
	pos   int
	depth int
	slot  func(int) (int, bool)
}

// ruleError is a parse error at a byte offset of the expression.
type ruleError struct {
	pos int
	msg string
}

func (e *ruleError) Error() string { return fmt.Sprintf("offset %d: %s", e.pos, e.msg) }

func (p *ruleParser) errorf(format string, args ...any) error {
	return &ruleError{pos: p.pos, msg: fmt.Sprintf(format, args...)}
}

func (p *ruleParser) parseOr() ([]fieldSet, error) {
	terms, err := p.parseAnd()
	for err == nil && p.operator("||") {
		var rhs []fieldSet
		if rhs, err = p.parseAnd(); err == nil {
			terms, err = p.or(terms, rhs)
		}
	}
	return terms, err
}

func (p *ruleParser) parseAnd() ([]fieldSet, error) {
	terms, err := p.parseFactor()
	for err == nil && p.operator("&&") {
		var rhs []fieldSet
		if rhs, err = p.parseFactor(); err == nil {
			terms, err = p.and(terms, rhs)
		}
	}
	return terms, err
}

// operator consumes op (after any whitespace) if it is next.
func (p *ruleParser) operator(op string) bool {
	p.skipSpace()
	if strings.HasPrefix(p.src[p.pos:], op) {
		p.pos += len(op)
		return true
	}
	return false
}

func (p *ruleParser) parseFactor() ([]fieldSet, error) {
	p.skipSpace()
	if p.pos == len(p.src) {
		return nil, p.errorf("unexpected end; expected $N or '('")
	}
	switch p.src[p.pos] {
	case '$':
		return p.parseField()
	case '(':
		return p.parseGroup()
	}
	return nil, p.errorf("unexpected %s; expected $N or '('", p.near())
}

func (p *ruleParser) parseGroup() ([]fieldSet, error) {
	if p.depth++; p.depth > maxDepth {
		return nil, p.errorf("parentheses nested deeper than %d", maxDepth)
	}
	open := p.pos
	p.pos++
	terms, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos == len(p.src) || p.src[p.pos] != ')' {
		return nil, p.errorf("missing ')' for the '(' at offset %d", open)
	}
	p.pos++
	p.depth--
	return terms, nil
}

func (p *ruleParser) parseField() ([]fieldSet, error) {
	start := p.pos
	p.pos++
	end := p.pos
	for end < len(p.src) && p.src[end] >= '0' && p.src[end] <= '9' {
		end++
	}
	digits := p.src[p.pos:end]
	switch {
	case digits == "":
		return nil, p.errorf("'$' must be followed by a field number")
	case len(digits) > maxIndexLen:
		return nil, p.errorf("field number %.10s… is too long", digits)
	case len(digits) > 1 && digits[0] == '0':
		return nil, p.errorf("field number %s has a leading zero", digits)
	}
	index, _ := strconv.Atoi(digits) // cannot fail: at most 6 digits
	slot, ok := p.slot(index)
	if !ok {
		p.pos = start
		return nil, p.errorf("$%d is not a field of the service", index)
	}
	p.pos = end
	var t fieldSet
	t.add(slot)
	return []fieldSet{t}, nil
}

// or returns the disjunction a ∨ b.
func (p *ruleParser) or(a, b []fieldSet) ([]fieldSet, error) {
	return p.simplified(append(a, b...))
}

// and returns the conjunction a ∧ b, distributed over both disjunctions.
func (p *ruleParser) and(a, b []fieldSet) ([]fieldSet, error) {
	if len(a)*len(b) > maxRawTerms {
		return nil, p.errorf("the rule expands into more than %d alternatives", maxRawTerms)
	}
	out := make([]fieldSet, 0, len(a)*len(b))
	for i := range a {
		for j := range b {
			out = append(out, a[i].union(&b[j]))
		}
	}
	return p.simplified(out)
}

// simplified drops duplicate terms and terms that contain another term
// (x ∨ (x ∧ y) = x), keeping source order.
func (p *ruleParser) simplified(terms []fieldSet) ([]fieldSet, error) {
	out := terms[:0:0]
	for i := range terms {
		if !absorbed(terms, i) {
			out = append(out, terms[i])
		}
	}
	if len(out) > maxTerms {
		return nil, p.errorf("the rule has more than %d alternatives", maxTerms)
	}
	return out, nil
}

// absorbed reports whether terms[i] contains another term, or equals an earlier one.
func absorbed(terms []fieldSet, i int) bool {
	for j := range terms {
		if j == i || !terms[j].subsetOf(&terms[i]) {
			continue
		}
		if terms[j] != terms[i] || j < i {
			return true
		}
	}
	return false
}

// skipSpace skips any Unicode white space.
func (p *ruleParser) skipSpace() {
	for p.pos < len(p.src) {
		r, size := rune(p.src[p.pos]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(p.src[p.pos:])
		}
		if !unicode.IsSpace(r) {
			return
		}
		p.pos += size
	}
}

// near quotes the text at the current position for an error message.
func (p *ruleParser) near() string {
	rest := p.src[p.pos:]
	if len(rest) > 8 {
		rest = strings.ToValidUTF8(rest[:8], "") + "…"
	}
	return strconv.Quote(rest)
}
