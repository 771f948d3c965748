package schema

import (
	"encoding/json"
	"fmt"
)

// Default limits.
const (
	DefaultMaxFileBytes      = 10 << 20 // decoded size of one file
	DefaultMaxTotalFileBytes = 32 << 20 // decoded size of every file of one submission
	DefaultMaxTextLen        = 1000     // characters of a text field
	DefaultMaxOptions        = 16       // option names in one submission
	DefaultMaxProblems       = 100      // problems listed in one ValidationError
)

// Limits bound what one input may carry; every bound is checked before
// anything is read or sent, and a violation is a Problem whose message
// names the limit. Zero (or negative) fields take the defaults.
type Limits struct {
	// MaxFileBytes bounds the decoded size of one file, inline or
	// referenced; default DefaultMaxFileBytes (10 MiB).
	MaxFileBytes int64
	// MaxTotalFileBytes bounds the decoded size of all the files of one
	// submission, inline and referenced together; default
	// DefaultMaxTotalFileBytes (32 MiB). Referenced objects count by the
	// size their Object Store info declares, before they are read.
	MaxTotalFileBytes int64
	// MaxTextLen bounds a text field, in characters; default
	// DefaultMaxTextLen (1000).
	MaxTextLen int
	// MaxOptions bounds the option names one submission gives, repeats
	// included; default DefaultMaxOptions (16).
	MaxOptions int
	// MaxProblems bounds the problems a ValidationError lists; beyond it,
	// one last problem (too_many_problems) says how many were left out.
	// Default DefaultMaxProblems (100).
	MaxProblems int
	// MaxProblemBytes bounds the problems a ValidationError lists by their
	// size as JSON, the too_many_problems problem that then ends the list
	// included: the list is copied into a record and an event, each one
	// NATS message, which the server's max_payload bounds however few the
	// problems are (a hundred unknown keys of 64 escaped bytes each come
	// to tens of KiB). Zero (or negative): no bound.
	MaxProblemBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxTotalFileBytes <= 0 {
		l.MaxTotalFileBytes = DefaultMaxTotalFileBytes
	}
	if l.MaxTextLen <= 0 {
		l.MaxTextLen = DefaultMaxTextLen
	}
	if l.MaxOptions <= 0 {
		l.MaxOptions = DefaultMaxOptions
	}
	if l.MaxProblems <= 0 {
		l.MaxProblems = DefaultMaxProblems
	}
	return l
}

// tooManyProblems is the last problem of a list cut at limit, more
// problems having been left out.
func tooManyProblems(more, limit int) Problem {
	return Problem{
		Code:    CodeTooManyProblems,
		Message: fmt.Sprintf("%d more problems are not listed: at most %d problems are listed at once", more, limit),
	}
}

// tooManyProblemBytes is the last problem of a list cut at lim bytes.
func tooManyProblemBytes(more, lim int) Problem {
	return Problem{
		Code:    CodeTooManyProblems,
		Message: fmt.Sprintf("%d more problems are not listed: the problems listed at once may come to at most %d bytes", more, lim),
	}
}

// capProblems keeps the first problems, as many as lim lists, and, when it
// drops any, adds one too_many_problems problem that says how many.
func capProblems(probs []Problem, lim Limits) []Problem {
	return listProblems(probs[:min(len(probs), lim.MaxProblems)], len(probs), lim)
}

// listProblems lists first, the first of found problems (at most
// lim.MaxProblems of them), cut further to lim.MaxProblemBytes, and then,
// when any are left out, one too_many_problems problem that says how many.
func listProblems(first []Problem, found int, lim Limits) []Problem {
	n := len(first)
	switch fit := fitting(first, lim.MaxProblemBytes); {
	case fit < n:
		return append(first[:fit:fit], tooManyProblemBytes(found-fit, lim.MaxProblemBytes))
	case n < found:
		return append(first[:n:n], tooManyProblems(found-n, n))
	}
	return first
}

// fitting is how many of probs, from the first, come to at most budget
// bytes as JSON with a too_many_problems problem after them: all of them
// when budget is not positive (no bound) or they all fit without it.
func fitting(probs []Problem, budget int) int {
	if budget <= 0 {
		return len(probs)
	}
	sizes, total := make([]int, len(probs)), 2 // [ and ]
	for i, p := range probs {
		b, _ := json.Marshal(p)
		sizes[i] = len(b) + 1 // and a comma
		total += sizes[i]
	}
	if total <= budget {
		return len(probs)
	}
	b, _ := json.Marshal(tooManyProblemBytes(len(probs), budget)) // the count's digits at their most
	used := 2 + len(b)
	for i, n := range sizes {
		if used += n; used > budget {
			return i
		}
	}
	return len(probs)
}

// filesTooLarge is the problem of the file that takes a submission's files
// past lim.MaxTotalFileBytes.
func filesTooLarge(total int64, lim Limits) (code, msg string) {
	return CodeFilesTooLarge, fmt.Sprintf("with this file the submission's files come to %d bytes; "+
		"at most %d bytes of files (inline and referenced together) are allowed per submission", total, lim.MaxTotalFileBytes)
}
