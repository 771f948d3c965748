package schema

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// The canonical JSON form of a Service is the data object of the upstream's
// GET /visure/{hash} answer, written from the compiled Service: Parse (and
// so iseed validate --schema) reads it back to an equal Service, and
// marshalling that again gives the same bytes. Fields the Service does not
// model (istruzioni_ricerca, a campo's opzioni) are left out.

// canonicalService is the canonical form: the API's field names and shapes.
type canonicalService struct {
	NomeVisura    string             `json:"nome_visura"`
	NomeCategoria string             `json:"nome_categoria"`
	HashVisura    string             `json:"hash_visura"`
	PrezzoVisura  *float64           `json:"prezzo_visura"` // null: the price unknown
	PrezzoRicerca float64            `json:"prezzo_ricerca"`
	Ricerca       bool               `json:"ricerca"`
	Sincrona      bool               `json:"sincrona"`
	JSONStruttura canonicalStructure `json:"json_struttura"`
	Opzioni       []canonicalOption  `json:"opzioni"` // null without options, as the API sends
}

type canonicalStructure struct {
	Campi       campi  `json:"campi"`
	Validazione string `json:"validazione"`
	Istruzioni  string `json:"istruzioni"` // base64 HTML
}

type canonicalField struct {
	Nome       string `json:"nome"`
	Tipo       string `json:"tipo"`
	Null       bool   `json:"null"`
	Ordine     string `json:"ordine"`
	Istruzioni string `json:"istruzioni"` // base64 HTML
}

type canonicalOption struct {
	Tipo   string   `json:"tipo"`
	Prezzo *float64 `json:"prezzo"` // null: the price unknown
	Nome   string   `json:"nome"`
}

// campi writes the fields as the API's object keyed "$N", in index order
// (encoding/json would sort the keys as strings: $0, $1, $10, $2).
type campi []Field

// MarshalJSON implements json.Marshaler.
func (c campi) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range c {
		f := &c[i]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(f.Key)) // "$N": nothing to escape
		b.WriteByte(':')
		err := encodeJSON(&b, canonicalField{
			Nome: f.Name, Tipo: f.Type, Null: f.Optional, Ordine: strconv.Itoa(f.Order), Istruzioni: encodeInstructions(f.Instructions),
		})
		if err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// encodeJSON appends v to b without escaping &, < and > (validazione is
// full of &&): an encoder that wants them escaped escapes them when it
// copies the result.
func encodeJSON(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// MarshalJSON writes the canonical JSON form of s: the data object of the
// upstream's GET /visure/{hash} answer (nome_visura, nome_categoria,
// hash_visura, prezzo_visura, prezzo_ricerca, ricerca, sincrona,
// json_struttura{campi, validazione, istruzioni}, opzioni), with booleans
// and numbers as JSON booleans and numbers, campi in index order and
// istruzioni base64-encoded. Parse reads it back to an equal Service.
// Print it with an encoder whose SetEscapeHTML is false to keep && legible.
func (s *Service) MarshalJSON() ([]byte, error) {
	out := canonicalService{
		NomeVisura:    s.Name,
		NomeCategoria: s.Category,
		HashVisura:    s.Hash,
		PrezzoVisura:  &s.Price,
		PrezzoRicerca: s.SearchPrice,
		Ricerca:       s.Search,
		Sincrona:      s.Sync,
		JSONStruttura: canonicalStructure{Campi: s.Fields, Validazione: s.Rule, Istruzioni: encodeInstructions(s.Instructions)},
	}
	if s.PriceUnknown {
		out.PrezzoVisura = nil
	}
	for _, o := range s.Options {
		c := canonicalOption{Tipo: o.Type, Prezzo: &o.Price, Nome: o.Name}
		if o.PriceUnknown {
			c.Prezzo = nil
		}
		out.Opzioni = append(out.Opzioni, c)
	}
	var b bytes.Buffer
	if err := encodeJSON(&b, out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// UnmarshalJSON implements json.Unmarshaler with Parse: it accepts the
// canonical form and every form Parse accepts, and compiles the schema.
func (s *Service) UnmarshalJSON(data []byte) error {
	parsed, err := Parse(data)
	if err != nil {
		return err
	}
	*s = *parsed
	return nil
}

// encodeInstructions is the inverse of decodeInstructions: the API's
// base64, which decodeInstructions turns back into the same text (it is
// always valid UTF-8: it came from a JSON string or was checked).
func encodeInstructions(html string) string {
	return base64.StdEncoding.EncodeToString([]byte(html))
}
