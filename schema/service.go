package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/visengine"
)

// Service is a compiled service schema (a visura): its fields, rule,
// options and price. It comes from Parse or Compile (a literal Service has
// no compiled rule), and is immutable and safe for concurrent use.
type Service struct {
	Hash         string  // hash_visura
	Name         string  // nome_visura, e.g. "ISEE"
	Category     string  // nome_categoria
	Price        float64 // prezzo_visura, euro; 0 when PriceUnknown
	PriceUnknown bool    // no prezzo_visura (absent, null or ""): not known to be free, the upstream may charge
	SearchPrice  float64 // prezzo_ricerca, euro
	Search       bool    // ricerca: the service has a search step
	Sync         bool    // sincrona
	Instructions string  // istruzioni, decoded HTML
	Rule         string  // validazione as published
	Fields       []Field // ordered by index
	Options      []Option
	Raw          *visengine.Visura // the answer it was compiled from

	rule   *rule
	byName map[string][]int // normalised lower-case name → slots
}

// Field is one input field (campo).
//
// Required, not Optional, says whether a submission must fill the field:
// the upstream evaluates validazione only, and its null flags can disagree
// with it (the 730 publishes its optional mandate with "null": false).
type Field struct {
	Key          string // "$4"
	Index        int    // 4
	Name         string // as published, e.g. "Codice Fiscale *"
	Label        string // the name without the trailing " *"
	Type         string // tipo as published, e.g. "codice_fiscale_persona_fisica"
	Optional     bool   // null as published: the field may be empty
	Required     bool   // every alternative of validazione needs it; without validazione, !Optional
	Order        int    // ordine (display order); the index when absent
	Instructions string // istruzioni, decoded HTML

	kind kind
}

// Identifies reports whether the field holds an identifier (a tax code or a
// VAT number): a value an upstream may re-case or re-space but cannot
// reformat otherwise, so that two values that differ in their letters and
// digits name two different persons or companies.
func (f Field) Identifies() bool {
	switch f.kind {
	case kindPersonalTaxCode, kindTaxCode, kindVATNumber:
		return true
	}
	return false
}

// Option is a priced option (opzione) of a service.
type Option struct {
	Name         string  // nome, e.g. "opzione_0": the key sent upstream
	Type         string  // tipo, e.g. "urgenza"
	Price        float64 // prezzo, euro; 0 when PriceUnknown
	PriceUnknown bool    // no prezzo (absent, null or ""): not known to be free, the upstream may charge
}

// AnyPriceUnknown reports whether the service's prezzo_visura or any of its
// options' prezzo is unknown: whether some submission of it may have an
// unknown price (Prepared.PriceUnknown), for one that does not say which
// options it chose.
func (s *Service) AnyPriceUnknown() bool {
	return s.PriceUnknown || slices.ContainsFunc(s.Options, func(o Option) bool { return o.PriceUnknown })
}

// Parse decodes a GET /visure/{hash} answer, with or without the
// {"data": …} envelope, or the canonical form Service.MarshalJSON writes
// (the same data object), and compiles it.
func Parse(raw []byte) (*Service, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, &SchemaError{Field: "json", Pos: -1, Msg: "not a JSON object", Err: err}
	}
	_, bare := top["json_struttura"]
	_, fields := top["fields"]
	if _, service := top["service"]; fields && service && !bare && top["hash_visura"] == nil {
		return nil, &SchemaError{Field: "json", Pos: -1, Msg: "this is a submission event, not a service schema: " +
			"give it as the input, and as the schema the service's (iseed schemas show SERVICE saves it)"}
	}
	if _, summary := top["fields"]; summary && !bare && top["data"] == nil && top["hash_visura"] == nil {
		return nil, &SchemaError{Field: "json", Pos: -1, Msg: "this is the summary older versions of iseed schemas show printed, " +
			"not a service schema: save the schema again with iseed schemas show SERVICE, or save the upstream's GET /visure/{hash} answer"}
	}
	if data, ok := top["data"]; ok && !bare {
		if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
			return nil, &SchemaError{Field: "data", Pos: -1, Msg: "the envelope holds no service: " + envelopeMessage(top)}
		}
		raw = data
	}
	var v visengine.Visura
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, &SchemaError{Field: "json", Pos: -1, Msg: "cannot decode the service", Err: err}
	}
	return Compile(&v)
}

// envelopeMessage returns the envelope's message and error code, for a
// schema error.
func envelopeMessage(top map[string]json.RawMessage) string {
	var msg string
	_ = json.Unmarshal(top["message"], &msg) // best effort: the message is only reported
	return fmt.Sprintf("message %q, error %s", msg, bytes.TrimSpace(top["error"]))
}

// Compile checks a decoded service and compiles its rule.
func Compile(v *visengine.Visura) (*Service, error) {
	if v == nil {
		return nil, &SchemaError{Pos: -1, Msg: "no service"}
	}
	s := &Service{
		Hash:         strings.TrimSpace(v.HashVisura),
		Name:         strings.TrimSpace(v.NomeVisura),
		Category:     v.NomeCategoria,
		Price:        float64(v.PrezzoVisura.Float),
		PriceUnknown: !v.PrezzoVisura.Valid,
		SearchPrice:  float64(v.PrezzoRicerca),
		Search:       bool(v.Ricerca),
		Sync:         bool(v.Sincrona),
		Instructions: decodeInstructions(v.JSONStruttura.Istruzioni),
		Rule:         v.JSONStruttura.Validazione,
		Raw:          v,
	}
	if s.Hash == "" {
		return nil, s.errorf("hash_visura", "the service has no hash_visura")
	}
	if err := s.compileFields(v.JSONStruttura.Campi); err != nil {
		return nil, err
	}
	if err := s.compileOptions(v.Opzioni); err != nil {
		return nil, err
	}
	r, err := compileRule(s.Rule, s.slotOf)
	if err != nil {
		re := err.(*ruleError) // compileRule returns only *ruleError
		return nil, &SchemaError{Hash: s.Hash, Field: "validazione", Pos: re.pos, Msg: re.msg}
	}
	s.rule = r
	s.markRequired()
	return s, nil
}

// markRequired sets Field.Required from the rule, or from null when the
// service publishes no validazione. The upstream evaluates only the
// expression, so null alone never makes a field required when there is one.
func (s *Service) markRequired() {
	needed := s.rule.needed()
	for i := range s.Fields {
		f := &s.Fields[i]
		if s.rule.empty() {
			f.Required = !f.Optional
		} else {
			f.Required = needed.has(i)
		}
	}
}

func (s *Service) errorf(field, format string, args ...any) error {
	return &SchemaError{Hash: s.Hash, Field: field, Pos: -1, Msg: fmt.Sprintf(format, args...)}
}

func (s *Service) compileFields(campi map[string]visengine.Campo) error {
	if len(campi) == 0 {
		// PHP's empty structure ([], {}, null, false): there is nothing a
		// submission could fill, and one without fields would be sent, and
		// paid, with no input. Unusable, not a service without input.
		return s.errorf("campi", "the service publishes no fields (json_struttura holds no campi): it cannot be used")
	}
	if len(campi) > maxFields {
		return s.errorf("campi", "%d fields; at most %d are supported", len(campi), maxFields)
	}
	s.Fields = make([]Field, 0, len(campi))
	for key, c := range campi {
		index, ok := fieldIndex(key)
		if !ok {
			return s.errorf("campi", "key %q is not of the form $N", shorten(key))
		}
		s.Fields = append(s.Fields, newField(index, c))
	}
	slices.SortFunc(s.Fields, func(a, b Field) int { return a.Index - b.Index })
	s.byName = make(map[string][]int, len(s.Fields))
	for i, f := range s.Fields {
		if f.Label != "" {
			k := strings.ToLower(f.Label)
			s.byName[k] = append(s.byName[k], i)
		}
	}
	return nil
}

func newField(index int, c visengine.Campo) Field {
	f := Field{
		Key:          "$" + strconv.Itoa(index),
		Index:        index,
		Name:         c.Nome,
		Label:        label(c.Nome),
		Type:         c.Tipo,
		Optional:     bool(c.Null),
		Order:        index,
		Instructions: decodeInstructions(c.Istruzioni),
		kind:         kindOf(c.Tipo),
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(c.Ordine))); err == nil {
		f.Order = n
	}
	return f
}

func (s *Service) compileOptions(opts []visengine.Opzione) error {
	s.Options = make([]Option, 0, len(opts))
	for i, o := range opts {
		name := strings.TrimSpace(o.Nome)
		if name == "" {
			return s.errorf("opzioni", "option %d has no nome", i)
		}
		if slices.ContainsFunc(s.Options, func(o Option) bool { return strings.EqualFold(o.Name, name) }) {
			return s.errorf("opzioni", "two options are named %q", shorten(name))
		}
		s.Options = append(s.Options, Option{Name: name, Type: strings.TrimSpace(o.Tipo),
			Price: float64(o.Prezzo.Float), PriceUnknown: !o.Prezzo.Valid})
	}
	return nil
}

// fieldIndex parses a canonical "$N" key (no sign, no leading zero).
func fieldIndex(key string) (int, bool) {
	digits, ok := strings.CutPrefix(key, "$")
	if !ok || digits == "" || len(digits) > maxIndexLen || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	n := number(digits)
	return n, n >= 0
}

// label drops a trailing "*" (the mark of a required field) and spaces.
func label(name string) string {
	return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(name), "*"))
}

// decodeInstructions decodes base64 HTML; text that is not base64 of
// UTF-8 text (some services publish plain text) is kept as it is.
func decodeInstructions(s string) string {
	if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s)); err == nil && utf8.Valid(b) {
		return string(b)
	}
	return s
}

// slotOf maps a field index to its position in Fields.
func (s *Service) slotOf(index int) (int, bool) {
	if index < len(s.Fields) && s.Fields[index].Index == index {
		return index, true // the usual case: $0 … $N without gaps
	}
	i, ok := slices.BinarySearchFunc(s.Fields, index, func(f Field, n int) int { return f.Index - n })
	return i, ok
}

// Field finds a field by "$N" or by name (case-insensitive, ignoring a
// trailing " *"). A name shared by two fields finds nothing.
func (s *Service) Field(key string) (*Field, bool) {
	i, code := s.lookup(key)
	if code != "" {
		return nil, false
	}
	return &s.Fields[i], true
}

// lookup returns the slot of the field a caller's key names, or the
// problem code (unknown_field, ambiguous_field).
func (s *Service) lookup(key string) (int, string) {
	if index, ok := fieldIndex(strings.TrimSpace(key)); ok {
		if i, ok := s.slotOf(index); ok {
			return i, ""
		}
		return 0, CodeUnknownField
	}
	name := label(key)
	slots, ok := s.byName[name]
	if !ok { // not already lower case, or not a name at all
		slots, ok = s.byName[strings.ToLower(name)]
	}
	switch {
	case !ok || name == "":
		return 0, CodeUnknownField
	case len(slots) > 1:
		return 0, CodeAmbiguousField
	}
	return slots[0], ""
}

// option returns the option named by nome or tipo (case-insensitive), or
// the problem code (unknown_option, ambiguous_option).
func (s *Service) option(name string) (int, string) {
	name = strings.TrimSpace(name)
	found, code := -1, CodeUnknownOption
	for i, o := range s.Options {
		if strings.EqualFold(o.Name, name) {
			return i, ""
		}
		if strings.EqualFold(o.Type, name) && name != "" {
			if found >= 0 {
				code = CodeAmbiguousOption
				continue
			}
			found = i
		}
	}
	if found >= 0 && code != CodeAmbiguousOption {
		return found, ""
	}
	return 0, code
}
