package schema

import "fmt"

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

// capProblems keeps the first limit problems and, when it drops any, adds
// one too_many_problems problem that says how many.
func capProblems(probs []Problem, limit int) []Problem {
	if len(probs) <= limit {
		return probs
	}
	return append(probs[:limit:limit], tooManyProblems(len(probs)-limit, limit))
}

// filesTooLarge is the problem of the file that takes a submission's files
// past lim.MaxTotalFileBytes.
func filesTooLarge(total int64, lim Limits) (code, msg string) {
	return CodeFilesTooLarge, fmt.Sprintf("with this file the submission's files come to %d bytes; "+
		"at most %d bytes of files (inline and referenced together) are allowed per submission", total, lim.MaxTotalFileBytes)
}
