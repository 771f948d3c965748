package sim

import (
	"errors"
	"fmt"
	"strconv"
)

// expr is a compiled validazione expression: "$N" terms joined by "&&" and
// "||" with parentheses; "&&" binds tighter than "||". An empty expression is true.
type expr struct {
	op   byte // 'v' a field term, '&' all kids, '|' any kid, 't' always true
	idx  int  // field index for 'v'
	kids []*expr
}

// eval reports whether the expression holds, given which fields are present.
func (e *expr) eval(present func(int) bool) bool {
	switch e.op {
	case 'v':
		return present(e.idx)
	case '&':
		for _, k := range e.kids {
			if !k.eval(present) {
				return false
			}
		}
		return true
	case '|':
		for _, k := range e.kids {
			if k.eval(present) {
				return true
			}
		}
		return false
	}
	return true
}

// parseExpr compiles a validazione expression.
func parseExpr(s string) (*expr, error) {
	p := &exprParser{src: s}
	p.skipSpace()
	if p.pos == len(s) {
		return &expr{op: 't'}, nil
	}
	e, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("validazione %q: %w", s, err)
	}
	if p.skipSpace(); p.pos != len(s) {
		return nil, fmt.Errorf("validazione %q: unexpected %q at %d", s, s[p.pos:], p.pos)
	}
	return e, nil
}

type exprParser struct {
	src string
	pos int
}

func (p *exprParser) skipSpace() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

// accept consumes tok (after spaces) when it comes next.
func (p *exprParser) accept(tok string) bool {
	p.skipSpace()
	if len(p.src)-p.pos >= len(tok) && p.src[p.pos:p.pos+len(tok)] == tok {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *exprParser) or() (*expr, error) {
	return p.list('|', "||", p.and)
}

func (p *exprParser) and() (*expr, error) {
	return p.list('&', "&&", p.primary)
}

// list parses next (tok next)* into one node of op, or the single operand.
func (p *exprParser) list(op byte, tok string, next func() (*expr, error)) (*expr, error) {
	first, err := next()
	if err != nil {
		return nil, err
	}
	kids := []*expr{first}
	for p.accept(tok) {
		k, err := next()
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	if len(kids) == 1 {
		return first, nil
	}
	return &expr{op: op, kids: kids}, nil
}

func (p *exprParser) primary() (*expr, error) {
	if p.accept("(") {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.accept(")") {
			return nil, fmt.Errorf("missing ) at %d", p.pos)
		}
		return e, nil
	}
	if !p.accept("$") {
		return nil, fmt.Errorf("expected $N or ( at %d", p.pos)
	}
	start := p.pos
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
	}
	if start == p.pos {
		return nil, errors.New("$ without a field number")
	}
	n, err := strconv.Atoi(p.src[start:p.pos])
	if err != nil {
		return nil, fmt.Errorf("field number: %w", err)
	}
	return &expr{op: 'v', idx: n}, nil
}
