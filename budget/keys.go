package budget

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// exactKeys refuses a key of the JSON value data that v's type does not
// spell exactly so (its json tags), and a key given twice in one object,
// at every depth; the keys of a map (tenant names) may be anything, once.
// encoding/json matches a key to a field whatever its case, and of two
// keys the last wins: "DAILY_EUR" would fill DailyEUR past every check
// that looks for "daily_eur", and a second "daily_eur" would replace the
// one checked. data has decoded into v already: its shape is v's.
func exactKeys(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	return walkKeys(d, reflect.TypeOf(v).Elem(), "")
}

// walkKeys reads the next value of d, an instance of t, and checks the
// keys of its objects; at names where it is, for messages ("tenants.acme:
// ").
func walkKeys(d *json.Decoder, t reflect.Type, at string) error {
	if t.Kind() != reflect.Struct && t.Kind() != reflect.Map {
		var skip json.RawMessage
		return d.Decode(&skip)
	}
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return err // null: no keys
	}
	fields := jsonFields(t)
	seen := make(map[string]bool)
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		key := tok.(string) // an object's key: Token returns it as a string
		if seen[key] {
			return fmt.Errorf("%skey %q given twice: give it once", at, key)
		}
		seen[key] = true
		var next reflect.Type
		if t.Kind() == reflect.Map {
			next = t.Elem() // a map's value, whatever its key
		} else if next = fields[key]; next == nil {
			return unknownKey(at, key, fields)
		}
		if err := walkKeys(d, next, at+key+": "); err != nil {
			return err
		}
	}
	_, err := d.Token() // '}'
	return err
}

// unknownKey says what is wrong with key, not one of fields: spelt in
// another case (naming the spelling to use), or unknown.
func unknownKey(at, key string, fields map[string]reflect.Type) error {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return fmt.Errorf("%skey %q: write it %q (keys are lower case, matched exactly)", at, key, name)
		}
	}
	return fmt.Errorf("%sunknown key %q", at, key)
}

// jsonFields returns the fields of the struct type t by the names its json
// tags give them, with their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if t.Kind() != reflect.Struct {
		return nil
	}
	out := make(map[string]reflect.Type, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case !f.IsExported() || name == "-":
			continue
		case name == "":
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
