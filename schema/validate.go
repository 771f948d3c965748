package schema

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Input is a submission's values and chosen options.
type Input struct {
	// Fields are keyed by "$N" or by field name (case-insensitive, a
	// trailing " *" ignored), as encoding/json decodes them: strings are
	// expected, a JSON null counts as empty, anything else is invalid_type.
	Fields map[string]any
	// Options are named by tipo ("urgenza") or nome ("opzione_0").
	Options []string
}

// Prepared is a validated input: exactly what to send upstream. Write
// its json_visura with WriteJSONVisura, which streams referenced files.
type Prepared struct {
	HashVisura string
	// JSONVisura holds the values to send as they are, keyed "$N":
	// trimmed, tax codes upper-cased, dates as dd-mm-yyyy, inline files as
	// given. Empty fields are left out. A field holding an Object Store
	// reference keeps it until ResolveFiles moves the field to Files.
	JSONVisura map[string]string
	Opzioni    map[string]bool // {"opzione_0": true}; nil without options
	Price      float64         // prezzo_visura plus the chosen options, euro
	// PriceUnknown: the service's prezzo_visura is unknown
	// (Service.PriceUnknown), or a chosen option's prezzo is
	// (Option.PriceUnknown); Price is what is known, the unknown ones
	// counted as 0. An option not chosen does not make it unknown.
	PriceUnknown bool
	// FileRefs are the keys of fields still holding an Object Store
	// reference, in field order; ResolveFiles checks them and empties it.
	FileRefs []string
	// Files are the referenced files ResolveFiles checked, by key: sent
	// inline, streamed from the Object Store when the request is written.
	// Their keys are not in JSONVisura. Nil without referenced files.
	Files map[string]FileRef

	service   *Service
	fileBytes int64 // decoded size of the inline files
}

// Validate checks in against the schema and reports every problem at once
// as a *ValidationError, or returns what to send.
func (s *Service) Validate(in Input, lim Limits) (*Prepared, error) {
	// The values given, by slot. Kept out of v, whose problems escape, so
	// that the buffer stays on the stack for services of up to 16 fields.
	var buf [16]given
	var slots []given
	if len(s.Fields) <= len(buf) {
		slots = buf[:len(s.Fields)]
	} else {
		slots = make([]given, len(s.Fields))
	}
	v := validation{s: s, lim: lim.withDefaults()}
	p := &Prepared{HashVisura: s.Hash, JSONVisura: make(map[string]string, len(s.Fields)), PriceUnknown: s.PriceUnknown, service: s}
	v.assign(slots, in.Fields)
	v.checkFields(p, slots)
	v.checkRule()
	p.Price = v.chooseOptions(p, in.Options)
	if len(v.problems) > 0 {
		return nil, v.err()
	}
	p.fileBytes = v.fileBytes
	return p, nil
}

// Quote returns the price of the service with the named options, and
// whether it is unknown, as Prepared.Price and Prepared.PriceUnknown
// would say; options not in the schema are ignored.
func (s *Service) Quote(options []string) (price float64, unknown bool) {
	v := validation{s: s}
	p := &Prepared{PriceUnknown: s.PriceUnknown}
	price = v.chooseOptions(p, options)
	return price, p.PriceUnknown
}

// TaxCode returns the value of the first codice_fiscale_persona_fisica
// field of p that has one.
func (s *Service) TaxCode(p *Prepared) (string, bool) {
	for i := range s.Fields {
		if s.Fields[i].kind == kindPersonalTaxCode {
			if v, ok := p.JSONVisura[s.Fields[i].Key]; ok {
				return v, true
			}
		}
	}
	return "", false
}

// given is what the caller supplied for one field.
type given struct {
	key   string // the caller's key
	value string
	set   bool
}

// ranked orders problems: by field slot, then unknown keys (by key), then
// options (as given).
type ranked struct {
	rank int
	// key is the caller's key of an unknown_field or ambiguous_field problem
	// found by lookup. Its message is written only if it is listed: an input
	// may carry any number of unknown keys.
	key string
	Problem
}

type validation struct {
	s         *Service
	lim       Limits
	present   fieldSet // non-empty after trimming: what the rule sees
	reported  fieldSet // fields that already have a problem
	problems  []ranked
	fileBytes int64 // decoded size of the inline files so far
}

func (v *validation) add(rank int, p Problem) {
	v.problems = append(v.problems, ranked{rank: rank, Problem: p})
}

func (v *validation) addField(slot int, code, msg string) {
	f := &v.s.Fields[slot]
	v.reported.add(slot)
	name := f.Label
	if name == "" {
		name = "field"
	}
	v.add(slot, Problem{Field: f.Key, Name: f.Name, Code: code, Message: fmt.Sprintf("%s (%s): %s", name, f.Key, msg)})
}

// assign maps the caller's keys to fields.
func (v *validation) assign(slots []given, fields map[string]any) {
	for key, raw := range fields {
		slot, code := v.s.lookup(key)
		switch {
		case code != "":
			v.problems = append(v.problems, ranked{rank: len(v.s.Fields), key: key, Problem: Problem{Field: shorten(key), Code: code}})
		case slots[slot].set:
			keys := []string{shorten(slots[slot].key), shorten(key)}
			slices.Sort(keys)
			v.addField(slot, CodeAmbiguousField, fmt.Sprintf("is given twice, as %q and as %q; give it once", keys[0], keys[1]))
		default:
			slots[slot] = given{key: key, set: true}
			v.assignValue(slots, slot, raw)
		}
	}
}

func (v *validation) assignValue(slots []given, slot int, raw any) {
	switch x := raw.(type) {
	case string:
		slots[slot].value = x
	case nil: // a JSON null is an empty value
	default:
		v.addField(slot, CodeInvalidType, fmt.Sprintf("must be a string, not %s", jsonKind(x)))
	}
}

// checkFields checks every field in index order and fills p.
func (v *validation) checkFields(p *Prepared, slots []given) {
	for i := range v.s.Fields {
		if v.reported.has(i) {
			continue
		}
		f := &v.s.Fields[i]
		val := strings.TrimSpace(slots[i].value)
		if val == "" {
			if f.Required {
				v.addField(i, CodeMissing, "is required")
			}
			continue
		}
		v.present.add(i)
		c := check(f.kind, val, v.lim)
		if c.code == "" && c.size > 0 {
			c = v.countFile(c)
		}
		if c.code != "" {
			v.addField(i, c.code, c.msg)
			continue
		}
		p.JSONVisura[f.Key] = c.value
		if c.ref {
			p.FileRefs = append(p.FileRefs, f.Key)
		}
	}
}

// countFile adds an inline file to the submission's total, and reports
// the file that takes the total past the limit (only that one).
func (v *validation) countFile(c checked) checked {
	before := v.fileBytes
	v.fileBytes += c.size
	if v.fileBytes > v.lim.MaxTotalFileBytes && before <= v.lim.MaxTotalFileBytes {
		c.code, c.msg = filesTooLarge(v.fileBytes, v.lim)
	}
	return c
}

// checkRule evaluates the validazione rule; when it fails, it reports the
// fields the closest alternative still needs that have no problem yet.
func (v *validation) checkRule() {
	r := v.s.rule
	if r.eval(&v.present) {
		return
	}
	term, missing := r.closest(&v.present)
	need := missing.minus(&v.reported)
	if need.len() == 0 {
		return // every field it needs is already reported
	}
	msg := v.ruleMessage(term, &missing)
	for _, slot := range need.slots() {
		v.addField(slot, CodeRuleNotSatisfied, msg)
	}
}

func (v *validation) ruleMessage(term int, missing *fieldSet) string {
	r := v.s.rule
	alt := v.s.describe(&r.terms[term], " && ")
	var needs []string
	for _, slot := range missing.slots() {
		f := &v.s.Fields[slot]
		needs = append(needs, fmt.Sprintf("%s (%q)", f.Key, f.Label))
	}
	if len(r.terms) == 1 {
		return fmt.Sprintf("the service's rule requires %s; still missing: %s", alt, strings.Join(needs, ", "))
	}
	return fmt.Sprintf("the service's rule accepts %d alternatives; the closest, number %d (%s), still needs %s",
		len(r.terms), term+1, alt, strings.Join(needs, ", "))
}

// describe writes a set of fields as "$0 && $1".
func (s *Service) describe(set *fieldSet, sep string) string {
	var keys []string
	for _, slot := range set.slots() {
		keys = append(keys, s.Fields[slot].Key)
	}
	return strings.Join(keys, sep)
}

// chooseOptions sets p.Opzioni, reports unknown options and returns the
// price. Past v.lim.MaxOptions names (when set), it reports that alone.
func (v *validation) chooseOptions(p *Prepared, options []string) float64 {
	price := v.s.Price
	if v.lim.MaxOptions > 0 && len(options) > v.lim.MaxOptions {
		v.add(len(v.s.Fields)+1, Problem{Field: optionsField, Code: CodeTooManyOptions,
			Message: fmt.Sprintf("%d options are named; at most %d option names are allowed per submission", len(options), v.lim.MaxOptions)})
		return price
	}
	for _, name := range options {
		i, code := v.s.option(name)
		if code != "" {
			v.add(len(v.s.Fields)+1, Problem{Field: optionsField, Name: shorten(name), Code: code, Message: v.s.optionMessage(name, code)})
			continue
		}
		o := v.s.Options[i]
		if !p.Opzioni[o.Name] {
			if p.Opzioni == nil {
				p.Opzioni = make(map[string]bool, len(v.s.Options))
			}
			p.Opzioni[o.Name] = true
			price += o.Price
			p.PriceUnknown = p.PriceUnknown || o.PriceUnknown
		}
	}
	return math.Round(price*100) / 100
}

// err returns the problems in order, at most v.lim.MaxProblems of them
// and then one saying how many more there are.
func (v *validation) err() error {
	slices.SortStableFunc(v.problems, func(a, b ranked) int {
		if a.rank != b.rank {
			return a.rank - b.rank
		}
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.Field, b.Field)
	})
	n := min(len(v.problems), v.lim.MaxProblems)
	out := make([]Problem, n, n+1)
	for i, p := range v.problems[:n] {
		if p.Message == "" {
			p.Message = v.s.lookupMessage(p.key, p.Code)
		}
		out[i] = p.Problem
	}
	return &ValidationError{Problems: listProblems(out, len(v.problems), v.lim)}
}

func (s *Service) lookupMessage(key, code string) string {
	if code == CodeAmbiguousField {
		slots := s.byName[strings.ToLower(label(key))]
		keys := make([]string, len(slots))
		for i, slot := range slots {
			keys[i] = s.Fields[slot].Key
		}
		return fmt.Sprintf("%q names several fields (%s); use their $N keys", shorten(key), strings.Join(keys, ", "))
	}
	return fmt.Sprintf("%q is not a field of %s; use $N or a field name", shorten(key), s.Name)
}

func (s *Service) optionMessage(name, code string) string {
	var known []string
	for _, o := range s.Options {
		known = append(known, fmt.Sprintf("%s (%s)", o.Type, o.Name))
	}
	if code == CodeAmbiguousOption {
		return fmt.Sprintf("several options have tipo %q; name the one you want by nome: %s", shorten(name), strings.Join(known, ", "))
	}
	if len(known) == 0 {
		return fmt.Sprintf("%q is not an option: %s has no options", shorten(name), s.Name)
	}
	return fmt.Sprintf("%q is not an option of %s; options: %s", shorten(name), s.Name, strings.Join(known, ", "))
}

// jsonKind names the JSON type of a value decoded by encoding/json.
func jsonKind(x any) string {
	switch x.(type) {
	case float64, int, int64, fmt.Stringer: // json.Number is a Stringer
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", x)
}
