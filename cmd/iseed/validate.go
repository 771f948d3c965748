package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/schema"
	"github.com/spf13/cobra"
)

// validateResult is what iseed validate prints. An unknown price (the
// service's or a chosen option's, docs/money.md) is null with
// PriceUnknown, not 0 or the known part: either would read as the price.
type validateResult struct {
	Valid        bool             `json:"valid"`
	Price        *float64         `json:"price"`
	PriceUnknown bool             `json:"price_unknown"`
	Errors       []schema.Problem `json:"errors"`
}

// setPrice sets the price, or says it is unknown.
func (r *validateResult) setPrice(price float64, unknown bool) {
	r.PriceUnknown = unknown
	if !unknown {
		r.Price = &price
	}
}

func newValidateCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validate --schema FILE --input FILE",
		Short: "Validate a submission against a saved service schema, offline",
		Long: "Checks field values against a saved service schema (what 'iseed schemas show -o json' prints, or a\n" +
			"GET /visure/{hash} answer) without calling anything. As JSON it prints\n" +
			`{"valid": bool, "price": number, "price_unknown": bool, "errors": [{"field", "name", "code", "message"}]};` + "\n" +
			"an unknown price (the service's or a chosen option's is not published) is null, price_unknown true.\n" +
			"File references (nats-os://…) are checked for form only. Input the pipeline refuses as malformed\n" +
			"(a name given twice, a byte order mark, …) is refused here too, with exit status 2. A whole event's\n" +
			"email_target is checked as the pipeline checks it (invalid_email on field email_target).",
		Args:        noArgs,
		Annotations: map[string]string{exitCodesKey: "0 valid; 1 invalid; 2 usage error, or a schema or input that cannot be read or is malformed"},
	}
	fs := cmd.Flags()
	schemaPath := fs.String("schema", "", "a saved schema: canonical form, or a GET /visure/{hash} answer with or without the envelope (`FILE`)")
	inputPath := fs.String("input", "", "field values keyed by $N or field name, or a whole submission event (`FILE`; - for standard input)")
	options := fs.StringArray("option", nil, "an option by tipo (urgenza) or nome (opzione_0); repeatable, added to the event's")
	maxFile := fs.Int64("max-file-bytes", schema.DefaultMaxFileBytes, "largest decoded inline file, in bytes")
	maxText := fs.Int("max-text-len", schema.DefaultMaxTextLen, "longest text value, in characters")
	out := addOutputFlag(cmd)
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if *schemaPath == "" || *inputPath == "" {
			return usagef("validate needs --schema FILE and --input FILE")
		}
		return nil
	}
	cmd.RunE = func(*cobra.Command, []string) error {
		format, err := out.format(e.stdout)
		if err != nil {
			return err
		}
		svc, in, target, err := loadValidateFiles(e, *schemaPath, *inputPath)
		if err != nil {
			return usagef("%v", err)
		}
		in.Options = append(in.Options, *options...)
		res, err := validateInput(svc, in, target, schema.Limits{MaxFileBytes: *maxFile, MaxTextLen: *maxText})
		if err != nil {
			return usagef("%v", err)
		}
		if err := printValidateResult(e.stdout, res, format); err != nil {
			return err
		}
		if !res.Valid {
			return silent(exitFailed)
		}
		return nil
	}
	return cmd
}

// validateInput runs the check and shapes the result. An event's
// emailTarget is checked as the pipeline checks it, its problem after the
// fields' and options'.
func validateInput(svc *schema.Service, in schema.Input, emailTarget string, lim schema.Limits) (*validateResult, error) {
	targetProblems := consumer.EmailTargetProblems(emailTarget)
	p, err := svc.Validate(in, lim)
	if err == nil {
		res := &validateResult{Valid: len(targetProblems) == 0, Errors: append([]schema.Problem{}, targetProblems...)}
		res.setPrice(p.Price, p.PriceUnknown)
		return res, nil
	}
	var ve *schema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	res := &validateResult{Errors: append(ve.Problems, targetProblems...)}
	res.setPrice(svc.Quote(in.Options))
	return res, nil
}

// loadValidateFiles reads and decodes the schema and the input, and the
// email_target of an input that is a whole submission event.
func loadValidateFiles(e *env, schemaPath, inputPath string) (*schema.Service, schema.Input, string, error) {
	raw, err := os.ReadFile(schemaPath)
	if err != nil {
		return nil, schema.Input{}, "", fmt.Errorf("--schema: %w", err)
	}
	svc, err := schema.Parse(raw)
	if err != nil {
		return nil, schema.Input{}, "", fmt.Errorf("--schema %s: %w", schemaPath, err)
	}
	raw, err = readValidateInput(e.stdin, inputPath)
	if err != nil {
		return nil, schema.Input{}, "", fmt.Errorf("--input: %w", err)
	}
	in, target, err := decodeValidateInput(raw, svc)
	if err != nil {
		return nil, schema.Input{}, "", fmt.Errorf("--input %s: %w", inputPath, err)
	}
	return svc, in, target, nil
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
// event (recognised by its "fields" object), which must be for svc, and
// returns the event's email_target too.
func decodeValidateInput(raw []byte, svc *schema.Service) (schema.Input, string, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return schema.Input{}, "", fmt.Errorf("not a JSON object: %w", err)
	}
	if f, ok := top["fields"]; ok && strings.HasPrefix(strings.TrimSpace(string(f)), "{") {
		// What the pipeline refuses as malformed (a name given twice, which
		// the decoder below would take the last of) is not valid here.
		sub, err := consumer.DecodeSubmission(raw)
		if err != nil {
			return schema.Input{}, "", fmt.Errorf("submission event: %w", err)
		}
		var ev validateEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return schema.Input{}, "", fmt.Errorf("submission event: %w", err)
		}
		if ev.Service != "" && !strings.EqualFold(strings.TrimSpace(ev.Service), svc.Name) && ev.Service != svc.Hash {
			return schema.Input{}, "", fmt.Errorf("the event is for service %q, the schema is %q (%s)", ev.Service, svc.Name, svc.Hash)
		}
		return schema.Input{Fields: ev.Fields, Options: ev.Options}, sub.EmailTarget, nil
	}
	// Field values alone: checked as the fields of an event would be.
	probe := append(append([]byte(`{"id":"validate","service":"validate","fields":`), raw...), '}')
	if _, err := consumer.DecodeSubmission(probe); err != nil {
		return schema.Input{}, "", fmt.Errorf("field values: %w", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		return schema.Input{}, "", err
	}
	return schema.Input{Fields: fields}, "", nil
}

// printValidateResult prints the result as JSON or for people.
func printValidateResult(w io.Writer, v *validateResult, format string) error {
	if format == formatJSON {
		return writeJSON(w, v)
	}
	price := "price unknown (the service or a chosen option publishes none)"
	if v.Price != nil {
		price = fmt.Sprintf("price %.2f €", *v.Price)
	}
	if v.Valid {
		_, err := fmt.Fprintf(w, "valid, %s\n", price)
		return err
	}
	fmt.Fprintf(w, "invalid, %d problem(s) (%s):\n", len(v.Errors), price)
	for _, p := range v.Errors {
		fmt.Fprintln(w, problemLine(publisher.Problem{Field: p.Field, Name: p.Name, Code: p.Code, Message: p.Message}))
	}
	return nil
}
