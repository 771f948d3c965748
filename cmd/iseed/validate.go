package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/iseed-dev/iseed/schema"
)

// validateResult is what iseed validate prints.
type validateResult struct {
	Valid  bool             `json:"valid"`
	Price  float64          `json:"price"`
	Errors []schema.Problem `json:"errors"`
}

// optionList collects a repeatable --option flag.
type optionList []string

func (o *optionList) String() string     { return strings.Join(*o, ",") }
func (o *optionList) Set(v string) error { *o = append(*o, v); return nil }

// runValidate checks a submission against a saved service schema, offline.
// Exit status: 0 valid, 1 invalid, 2 usage or schema error.
func runValidate(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "validate", "--schema FILE --input FILE [--option NAME]…\n\n"+
		"Checks field values against a saved service schema without calling anything, and prints\n"+
		`{"valid": bool, "price": number, "errors": [{"field", "name", "code", "message"}]}.`+"\n"+
		"Exit status: 0 valid, 1 invalid, 2 usage or schema error. File references (nats-os://…)\n"+
		"are checked for form only.")
	schemaPath := fs.String("schema", "", "a saved GET /visure/{hash} answer, with or without the envelope (`FILE`)")
	inputPath := fs.String("input", "", "field values keyed by $N or field name, or a whole submission event (`FILE`; - for standard input)")
	var options optionList
	fs.Var(&options, "option", "an option by tipo (urgenza) or nome (opzione_0); repeatable, added to the event's")
	maxFile := fs.Int64("max-file-bytes", schema.DefaultMaxFileBytes, "largest decoded inline file, in bytes")
	maxText := fs.Int("max-text-len", schema.DefaultMaxTextLen, "longest text value, in characters")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: 2} // the flag package printed the error and usage
	}
	if *schemaPath == "" || *inputPath == "" || fs.NArg() > 0 {
		fs.Usage()
		return validateUsageError(e, errors.New("validate needs --schema FILE and --input FILE, and no arguments"))
	}
	svc, in, err := loadValidateFiles(e, *schemaPath, *inputPath)
	if err != nil {
		return validateUsageError(e, err)
	}
	in.Options = append(in.Options, options...)
	res, err := validateInput(svc, in, schema.Limits{MaxFileBytes: *maxFile, MaxTextLen: *maxText})
	if err != nil {
		return validateUsageError(e, err)
	}
	if err := printValidateResult(e.stdout, res); err != nil {
		return err
	}
	if !res.Valid {
		return &exitError{code: 1}
	}
	return nil
}

// validateUsageError prints err on stderr and exits with status 2 (run
// prints only errors that carry no exit status).
func validateUsageError(e *env, err error) error {
	fmt.Fprintf(e.stderr, "iseed validate: %v\n", err)
	return &exitError{code: 2}
}

// validateInput runs the check and shapes the result.
func validateInput(svc *schema.Service, in schema.Input, lim schema.Limits) (*validateResult, error) {
	p, err := svc.Validate(in, lim)
	if err == nil {
		return &validateResult{Valid: true, Price: p.Price, Errors: []schema.Problem{}}, nil
	}
	var ve *schema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	return &validateResult{Price: svc.Quote(in.Options), Errors: ve.Problems}, nil
}

// loadValidateFiles reads and decodes the schema and the input.
func loadValidateFiles(e *env, schemaPath, inputPath string) (*schema.Service, schema.Input, error) {
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		return nil, schema.Input{}, fmt.Errorf("--schema: %w", err)
	}
	svc, err := schema.Parse(raw)
	if err != nil {
		return nil, schema.Input{}, fmt.Errorf("--schema %s: %w", schemaPath, err)
	}
	raw, err = readValidateInput(e.stdin, inputPath)
	if err != nil {
		return nil, schema.Input{}, fmt.Errorf("--input: %w", err)
	}
	in, err := decodeValidateInput(raw, svc)
	if err != nil {
		return nil, schema.Input{}, fmt.Errorf("--input %s: %w", inputPath, err)
	}
	return svc, in, nil
}

// readValidateInput reads --input: a file, or standard input for "-".
func readValidateInput(stdin io.Reader, path string) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path)
}

// validateEvent is the part of a submission event iseed validate reads.
type validateEvent struct {
	Service string         `json:"service"`
	Fields  map[string]any `json:"fields"`
	Options []string       `json:"options"`
}

// decodeValidateInput accepts a JSON object of field values, or a whole submission
// event (recognised by its "fields" object), which must be for svc.
func decodeValidateInput(raw []byte, svc *schema.Service) (schema.Input, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return schema.Input{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if f, ok := top["fields"]; ok && strings.HasPrefix(strings.TrimSpace(string(f)), "{") {
		var ev validateEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return schema.Input{}, fmt.Errorf("submission event: %w", err)
		}
		if ev.Service != "" && !strings.EqualFold(strings.TrimSpace(ev.Service), svc.Name) && ev.Service != svc.Hash {
			return schema.Input{}, fmt.Errorf("the event is for service %q, the schema is %q (%s)", ev.Service, svc.Name, svc.Hash)
		}
		return schema.Input{Fields: ev.Fields, Options: ev.Options}, nil
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return schema.Input{}, err
	}
	return schema.Input{Fields: fields}, nil
}

// printValidateResult prints the result as indented JSON, leaving && and <> readable.
func printValidateResult(w io.Writer, v *validateResult) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
