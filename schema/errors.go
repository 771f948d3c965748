package schema

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrUnknownService is wrapped by Cache.Service when the upstream does not
// know the service (catalog name or hash).
var ErrUnknownService = errors.New("schema: unknown service")

// Problem codes: stable, machine-readable, documented in docs/schema.md.
const (
	CodeMissing          = "missing"         // a required field is empty or absent
	CodeInvalidType      = "invalid_type"    // a value that is not a string (number, bool, object, array)
	CodeUnknownField     = "unknown_field"   // a key that is not in campi
	CodeAmbiguousField   = "ambiguous_field" // a name matching two fields, or one field given twice
	CodeTooLong          = "too_long"        // text longer than Limits.MaxTextLen characters
	CodeInvalidText      = "invalid_text"    // invalid UTF-8 or control characters
	CodeInvalidTaxCode   = "invalid_codice_fiscale"
	CodeInvalidVATNumber = "invalid_partita_iva"
	CodeInvalidTaxOrVAT  = "invalid_codice_fiscale_or_partita_iva"
	CodeInvalidEmail     = "invalid_email"
	CodeInvalidComune    = "invalid_cod_comune"
	CodeInvalidProvincia = "invalid_cod_provincia"
	CodeInvalidDate      = "invalid_date"
	CodeInvalidFile      = "invalid_file"
	CodeFileTooLarge     = "file_too_large"  // one file over Limits.MaxFileBytes
	CodeFilesTooLarge    = "files_too_large" // a submission's files together over Limits.MaxTotalFileBytes
	CodeInvalidFileRef   = "invalid_file_reference"
	CodeFileIsLink       = "file_is_link" // a reference to an Object Store link, which is never followed
	CodeFileChanged      = "file_changed" // a referenced object changed between ResolveFiles and sending (FileError.Problem)
	CodeUnknownOption    = "unknown_option"
	CodeAmbiguousOption  = "ambiguous_option" // an option tipo shared by two options
	CodeTooManyOptions   = "too_many_options" // more option names than Limits.MaxOptions
	CodeRuleNotSatisfied = "rule_not_satisfied"
	CodeTooManyProblems  = "too_many_problems" // the last problem listed when more than Limits.MaxProblems were found
)

const (
	optionsField    = "opzioni" // Problem.Field of option problems
	maxKeyInMessage = 64        // caller-supplied keys are cut to this in messages
)

// Problem is one thing wrong with an input.
type Problem struct {
	Field   string `json:"field"`   // the key as given (cut to 64 bytes), or the field's "$N"; "opzioni" for options; "" for too_many_problems
	Name    string `json:"name"`    // the field's name as published, e.g. "Codice Fiscale *"
	Code    string `json:"code"`    // one of the Code constants
	Message string `json:"message"` // for a person; never contains a field's value but the object name of a nats-os:// reference that does not resolve
}

// ValidationError lists every problem of an input. Find it with errors.As.
type ValidationError struct {
	Problems []Problem
}

// Error implements error. It names fields and codes only, never values.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema: invalid input (%d problems)", len(e.Problems))
	for i, p := range e.Problems {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		fmt.Fprintf(&b, "%s%s %s", sep, p.Field, p.Code)
	}
	return b.String()
}

// SchemaError is a service schema that cannot be used.
type SchemaError struct {
	Hash  string // the service, when known
	Field string // where: a campi key ("$3"), "validazione", "opzioni", "json"…
	Pos   int    // byte offset in validazione; -1 when it does not apply
	Msg   string
	Err   error // the underlying decode error, if any
}

// Error implements error.
func (e *SchemaError) Error() string {
	var b strings.Builder
	b.WriteString("schema")
	if e.Hash != "" {
		b.WriteString(" " + e.Hash)
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	if e.Pos >= 0 {
		fmt.Fprintf(&b, " at offset %d", e.Pos)
	}
	b.WriteString(": " + e.Msg)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *SchemaError) Unwrap() error { return e.Err }

// shorten keeps caller-supplied keys and names short in problems (never in
// errors, which are logged: object names are the tenant's), and
// makes them printable: invalid UTF-8 and control characters become U+FFFD.
func shorten(s string) string {
	cut := ""
	if len(s) > maxKeyInMessage {
		s, cut = strings.ToValidUTF8(s[:maxKeyInMessage], ""), "…"
	}
	if printable(s) {
		return s + cut
	}
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD")) + cut
}
