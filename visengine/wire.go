package visengine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Bool decodes the API's loose booleans: true/false, "0"/"1", "true"/"false",
// 0/1 and null (false). It encodes as a JSON boolean.
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bool) UnmarshalJSON(data []byte) error {
	s := string(bytes.TrimSpace(data))
	switch s {
	case "true", `"1"`, "1", `"true"`:
		*b = true
	case "false", `"0"`, "0", `"false"`, "null", `""`:
		*b = false
	default:
		return fmt.Errorf("visengine: cannot decode %s as a boolean", jsonKind(data))
	}
	return nil
}

// jsonKind names the kind of a JSON value for an error message, which must
// not quote the value itself (it may be personal data).
func jsonKind(data []byte) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "nothing"
	}
	switch data[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f', 'n':
		return "a literal"
	default:
		return "a number"
	}
}

// Float decodes a number that may also arrive as a string ("11.70", or as
// PHP formats money in Italian: "11,70", "1.234,50"), null or "" (zero).
type Float float64

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(data []byte) error {
	s := strings.TrimSpace(string(bytes.Trim(bytes.TrimSpace(data), `"`)))
	if s == "null" || s == "" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(decimalPoint(s), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return fmt.Errorf("visengine: cannot decode %s as a number", jsonKind(data))
	}
	*f = Float(v)
	return nil
}

// NullFloat is a Float that may be missing: absent, null or "" leave
// Valid false. A price the upstream leaves out is unknown, which is not
// free: Float decodes all three as 0.
type NullFloat struct {
	Float Float
	Valid bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *NullFloat) UnmarshalJSON(data []byte) error {
	s := strings.TrimSpace(string(bytes.Trim(bytes.TrimSpace(data), `"`)))
	if s == "null" || s == "" {
		*f = NullFloat{}
		return nil
	}
	if err := f.Float.UnmarshalJSON(data); err != nil {
		return err
	}
	f.Valid = true
	return nil
}

// MarshalJSON implements json.Marshaler: null when f is not Valid, so
// that what is stored (the schema cache's bucket) reads back the same.
func (f NullFloat) MarshalJSON() ([]byte, error) {
	if !f.Valid {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f.Float))
}

// decimalPoint rewrites a number written with a decimal comma: the last of
// ',' and '.' is the decimal separator, the other one groups thousands
// ("1.234,50" and "1,234.50" are both 1234.5; "11,70" is 11.7). A lone
// "1.234" stays 1.234: without a comma a point is a decimal point.
func decimalPoint(s string) string {
	comma := strings.LastIndexByte(s, ',')
	if comma < 0 {
		return s
	}
	if comma > strings.LastIndexByte(s, '.') {
		s = strings.ReplaceAll(s, ".", "")
		return strings.Replace(s, ",", ".", 1)
	}
	return strings.ReplaceAll(s, ",", "")
}

// Int decodes an integer that may also arrive as a numeric string or null.
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int) UnmarshalJSON(data []byte) error {
	var f Float
	if err := f.UnmarshalJSON(data); err != nil {
		return err
	}
	*n = Int(f)
	return nil
}

// String decodes a string that may also arrive as a number or null.
type String string

// UnmarshalJSON implements json.Unmarshaler.
func (s *String) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var v string
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		*s = String(v)
		return nil
	}
	if string(data) == "null" {
		*s = ""
		return nil
	}
	*s = String(data) // a bare number or boolean, kept as written
	return nil
}

// Timestamp is a unix time in seconds, as every published example has it;
// zero when absent. A value of msThreshold or more is read as milliseconds:
// no time in seconds reaches it before the year 33658, and a millisecond
// value read as seconds would put a request tens of thousands of years
// ahead, outside every reconciliation window (a request not found there is
// sent again, and paid twice).
type Timestamp int64

// msThreshold is where a Timestamp is taken to be in milliseconds.
const msThreshold = 1_000_000_000_000

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(data []byte) error {
	var n Int
	if err := n.UnmarshalJSON(data); err != nil {
		return err
	}
	*t = Timestamp(n)
	return nil
}

// Time returns the timestamp as a time.Time (the zero Time when unset).
func (t Timestamp) Time() time.Time {
	if t == 0 {
		return time.Time{}
	}
	if t >= msThreshold {
		return time.UnixMilli(int64(t)).UTC()
	}
	return time.Unix(int64(t), 0).UTC()
}

// VisuraSummary is one entry of the catalog (GET /visure).
type VisuraSummary struct {
	NomeVisura    string `json:"nome_visura"`
	NomeCategoria string `json:"nome_categoria"`
	HashVisura    string `json:"hash_visura"`
}

// Visura is one service's schema, prices and options (GET /visure/{hash}).
type Visura struct {
	NomeVisura    string        `json:"nome_visura"`
	NomeCategoria string        `json:"nome_categoria"`
	HashVisura    string        `json:"hash_visura"`
	JSONStruttura JSONStruttura `json:"json_struttura"`
	Ricerca       Bool          `json:"ricerca"`
	Sincrona      Bool          `json:"sincrona"`
	PrezzoVisura  NullFloat     `json:"prezzo_visura"` // not Valid: absent or null, the price unknown
	PrezzoRicerca Float         `json:"prezzo_ricerca"`
	Opzioni       Opzioni       `json:"opzioni"` // null decodes as nil
}

// JSONStruttura is the input structure of a service. It decodes PHP's
// forms of nothing (null, false, "", [], {}) as an empty structure, and
// each of them in validazione, istruzioni and istruzioni_ricerca as "":
// a service without a rule or instructions is still a service (a
// structure without fields is refused by schema.Compile).
type JSONStruttura struct {
	Campi             Campi  `json:"campi"` // keyed "$0", "$1", …
	Validazione       string `json:"validazione"`
	Istruzioni        string `json:"istruzioni"` // base64 HTML
	IstruzioniRicerca string `json:"istruzioni_ricerca"`
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *JSONStruttura) UnmarshalJSON(data []byte) error {
	*s = JSONStruttura{}
	if isNothing(data) {
		return nil
	}
	var w struct {
		Campi             Campi `json:"campi"`
		Validazione       text  `json:"validazione"`
		Istruzioni        text  `json:"istruzioni"`
		IstruzioniRicerca text  `json:"istruzioni_ricerca"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = JSONStruttura{Campi: w.Campi, Validazione: string(w.Validazione),
		Istruzioni: string(w.Istruzioni), IstruzioniRicerca: string(w.IstruzioniRicerca)}
	return nil
}

// Campo is one input field of a service.
type Campo struct {
	Nome       string `json:"nome"`
	Tipo       string `json:"tipo"`
	Null       Bool   `json:"null"` // may the field be empty
	Ordine     String `json:"ordine"`
	Istruzioni string `json:"istruzioni"` // PHP's forms of nothing decode as ""
	Opzioni    String `json:"opzioni,omitempty"`
}

// campoFields is Campo without its UnmarshalJSON.
type campoFields Campo

// UnmarshalJSON implements json.Unmarshaler.
func (c *Campo) UnmarshalJSON(data []byte) error {
	var w struct {
		campoFields
		Istruzioni text `json:"istruzioni"` // shadows campoFields.Istruzioni
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*c = Campo(w.campoFields)
	c.Istruzioni = string(w.Istruzioni)
	return nil
}

// text decodes a string that PHP may write as nothing: null, false, "", []
// or {} are "", a number is kept as written. Anything else (true, a
// non-empty list or object) has no reading as text and is an error.
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case isNothing(data):
		*t = ""
		return nil
	case len(data) > 0 && (data[0] == '"' || data[0] == '-' || data[0] >= '0' && data[0] <= '9'):
		var s String
		if err := s.UnmarshalJSON(data); err != nil {
			return err
		}
		*t = text(s)
		return nil
	}
	return fmt.Errorf("visengine: cannot decode %s as text", jsonKind(data))
}

// isNothing reports whether data is one of the ways PHP writes "nothing":
// null, false, "", an empty list ([], as json_encode writes an empty
// array) or an empty object.
func isNothing(data []byte) bool {
	data = bytes.TrimSpace(data)
	switch string(data) {
	case "null", "false", `""`:
		return true
	}
	if len(data) < 2 {
		return false
	}
	open, end := data[0], data[len(data)-1]
	return (open == '[' && end == ']' || open == '{' && end == '}') && len(bytes.TrimSpace(data[1:len(data)-1])) == 0
}

// Opzione is a priced option of a service, e.g. {"tipo":"urgenza","prezzo":4,"nome":"opzione_0"}.
type Opzione struct {
	Tipo   string    `json:"tipo"`
	Prezzo NullFloat `json:"prezzo"` // not Valid: absent, null or "", the price unknown
	Nome   string    `json:"nome"`
}

// Opzioni is a list of options. It decodes null, false and "" (nil: PHP's
// "nothing"), a list of Opzione, an object of Opzione keyed "0", "1", …
// (as PHP sends sparse arrays), and the object a request was created with,
// {"opzione_0": true}, as the options set to true (Nome only).
type Opzioni []Opzione

// UnmarshalJSON implements json.Unmarshaler.
func (o *Opzioni) UnmarshalJSON(data []byte) error {
	*o = nil
	data = bytes.TrimSpace(data)
	if s := string(data); s == "false" || s == `""` {
		return nil
	}
	if len(data) == 0 || data[0] != '{' {
		var l []Opzione
		if err := json.Unmarshal(data, &l); err != nil {
			return err
		}
		*o = l
		return nil
	}
	return eachMember(data, func(key string, raw json.RawMessage) error {
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 && raw[0] == '{' {
			var op Opzione
			if err := json.Unmarshal(raw, &op); err != nil {
				return err
			}
			*o = append(*o, op)
			return nil
		}
		var on Bool
		if err := on.UnmarshalJSON(raw); err != nil {
			return err
		}
		if on {
			*o = append(*o, Opzione{Nome: key})
		}
		return nil
	})
}

// list decodes a JSON array that may also arrive as null (empty) or, as PHP
// sends arrays with gaps in their keys, as an object keyed "0", "1", …
// (the values, in the order sent).
type list[T any] []T

// UnmarshalJSON implements json.Unmarshaler.
func (l *list[T]) UnmarshalJSON(data []byte) error {
	*l = nil
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return json.Unmarshal(data, (*[]T)(l))
	}
	return eachMember(data, func(_ string, raw json.RawMessage) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		*l = append(*l, v)
		return nil
	})
}

// items returns the list, never nil.
func (l list[T]) items() []T {
	if l == nil {
		return []T{}
	}
	return l
}

// eachMember calls fn for each member of the JSON object data, in order.
func eachMember(data []byte, fn func(key string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the '{'
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := fn(key, raw); err != nil {
			return err
		}
	}
	_, err := dec.Token() // the '}'
	return err
}

// CallbackData tells the API where to post state changes of a request.
type CallbackData struct {
	URL    string          `json:"url"`
	Method string          `json:"method,omitempty"` // "JSON" or "POST"
	Field  string          `json:"field,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// EchoedData is the data of callback_data as the upstream echoes it: the
// JSON sent, or, when the upstream keeps data as text and echoes it as a
// JSON string, the text that string holds, when that is a JSON object (how
// the real API echoes data is not documented: docs/visengine.md). Nothing
// else is unwrapped: not a string that is no object's text, nor one
// encoded twice.
func (c *CallbackData) EchoedData() json.RawMessage {
	var text string
	if json.Unmarshal(c.Data, &text) != nil {
		return c.Data
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &obj) != nil || obj == nil {
		return c.Data
	}
	return json.RawMessage(text)
}

// OptionalCallback decodes callback_data, which the API sends as false when
// unset: the object sent, or a JSON string holding its text, as the API
// echoes json_ricerca (how it keeps callback_data is not documented, and
// dropped, the request would lose the marker that proves it the
// submission's: with ISEED_RECONCILE_TRUST_MARKER, a marked submission's
// own request would count as another's, and be POSTed again).
type OptionalCallback struct {
	*CallbackData
}

// UnmarshalJSON implements json.Unmarshaler.
func (o *OptionalCallback) UnmarshalJSON(data []byte) error {
	s := string(bytes.TrimSpace(data))
	if s == "false" || s == "null" || s == `""` || s == "[]" {
		o.CallbackData = nil
		return nil
	}
	var text string
	if json.Unmarshal(data, &text) == nil {
		if t := strings.TrimSpace(text); !strings.HasPrefix(t, "{") {
			return fmt.Errorf("callback_data: a string that is no object's text")
		}
		data = []byte(text) // unwrapped once, as EchoedData does
	}
	var cb CallbackData
	if err := json.Unmarshal(data, &cb); err != nil {
		return err
	}
	o.CallbackData = &cb
	return nil
}

// MarshalJSON implements json.Marshaler: false when unset, as the API does.
func (o OptionalCallback) MarshalJSON() ([]byte, error) {
	if o.CallbackData == nil {
		return []byte("false"), nil
	}
	return json.Marshal(o.CallbackData)
}

// CreateRequest is the body of POST /richiesta.
type CreateRequest struct {
	HashVisura   string            `json:"hash_visura"`
	JSONVisura   map[string]string `json:"json_visura"`
	State        *int              `json:"state,omitempty"` // default 1: submit now; 0: open draft
	Test         bool              `json:"test,omitempty"`  // validate and price only
	CallbackData *CallbackData     `json:"callback_data,omitempty"`
	EmailTarget  string            `json:"email_target,omitempty"`
	Opzioni      map[string]bool   `json:"opzioni,omitempty"` // {"opzione_0": true}

	// WriteJSONVisura, when set, writes the json_visura object in place of
	// JSONVisura, streamed into the body while it is sent: files are read
	// as they go out, never held ((*schema.Prepared).WriteJSONVisura). An
	// error it returns aborts the request, which the upstream then never
	// receives whole, and comes back wrapped in the call's *Error.
	WriteJSONVisura func(ctx context.Context, w io.Writer) error `json:"-"`
	// JSONVisuraLen is the exact length WriteJSONVisura writes, for the
	// Content-Length; negative when unknown (the body is sent chunked).
	JSONVisuraLen int64 `json:"-"`
}

// UpdateRequest is the body of PUT /richiesta/{id}.
type UpdateRequest struct {
	State       *int              `json:"state,omitempty"`
	JSONVisura  map[string]string `json:"json_visura,omitempty"`
	EmailTarget string            `json:"email_target,omitempty"`
}

// Esito is the outcome of a request; Codice "0" (Info "OK") is success.
type Esito struct {
	Codice String `json:"codice"`
	Info   string `json:"info"`
}

// TimestampStati has one key per state the request reached.
type TimestampStati struct {
	InRicerca       Timestamp `json:"in_ricerca,omitempty"`
	InErogazione    Timestamp `json:"in_erogazione,omitempty"`
	DatiDisponibili Timestamp `json:"dati_disponibili,omitempty"`
	VisuraEvasa     Timestamp `json:"visura_evasa,omitempty"`
	Annullata       Timestamp `json:"annullata,omitempty"`
}

// Ricerca is one search of a request. The API echoes the request's input in
// it: json_ricerca (a JSON document in a string, keyed "$0", "$1", …) and
// json_mappato (an object keyed by field name). Both are decoded while the
// answer streams, within Config.MaxValueBytes per value.
type Ricerca struct {
	IDRicerca    String `json:"id_ricerca"`
	StatoRicerca string `json:"stato_ricerca"`
	// Input is json_ricerca: "$N" → value, numbers as written. An inline
	// file ("name|data:mime;base64,<payload>") is kept as
	// "name|data:mime;base64,": its payload is never read into memory. Nil
	// when the API sent no json_ricerca, one that is not a JSON object, or
	// one with a key longer than 256 bytes (its value is neither kept nor
	// cut: the input is unknown).
	Input map[string]string `json:"input,omitempty"`
	// Cut holds the keys of json_ricerca that were sent but are not in
	// Input: longer than MaxValueBytes, past MaxResponseBytes, or neither a
	// string nor a number. A caller comparing input must treat them as
	// unknown, never as different or absent.
	Cut map[string]bool `json:"cut,omitempty"`
	// Mapped and MappedCut are json_mappato (field name → value), kept as
	// Input and Cut are.
	Mapped    map[string]string `json:"mapped,omitempty"`
	MappedCut map[string]bool   `json:"mapped_cut,omitempty"`
	// JSONRisultato is json_risultato (search results, a JSON document in a
	// string); nil when null, absent or not kept (RisultatoCut).
	JSONRisultato *string `json:"json_risultato"`
	RisultatoCut  bool    `json:"risultato_cut,omitempty"`
}

// Richiesta is a full request (POST /richiesta, GET/PUT/DELETE
// /richiesta/{id}). It is decoded while the answer streams: _id strictly,
// every other field leniently (a value that does not decode, or is longer
// than Config.MaxValueBytes, is left zero). StatoRichiesta is normalised
// (NormalizeState).
type Richiesta struct {
	ID                  string           `json:"_id"`
	State               Int              `json:"state"`
	HashVisura          string           `json:"hash_visura"`
	Nome                string           `json:"nome"`
	Callback            String           `json:"callback,omitempty"`
	Ricerca             Bool             `json:"ricerca"`
	IDRicerca           String           `json:"id_ricerca"`
	PrezzoVisura        Float            `json:"prezzo_visura"`
	PrezzoRicerca       Float            `json:"prezzo_ricerca"`
	IndiceRicerca       *Int             `json:"indice_ricerca"`
	StatoRichiesta      string           `json:"stato_richiesta"`
	EmailTarget         String           `json:"email_target"`
	Allegati            []string         `json:"allegati"`
	TimestampCreation   Timestamp        `json:"timestamp_creation"`
	TimestampLastUpdate Timestamp        `json:"timestamp_last_update"`
	TimestampStati      TimestampStati   `json:"timestamp_stati"`
	CallbackData        OptionalCallback `json:"callback_data"`
	Opzioni             Opzioni          `json:"opzioni"`
	Owner               string           `json:"owner"`
	Sincrona            Bool             `json:"sincrona"`
	Ricerche            []Ricerca        `json:"ricerche"`
	Esito               *Esito           `json:"esito"`
	MotivoAnnullamento  String           `json:"motivo_annullamento,omitempty"`
	// Partial is set when the answer to a POST, PUT or DELETE broke off (cut,
	// malformed, timed out) after a readable _id: the call succeeded, and
	// the fields after the break are zero. Read the request again for them.
	Partial bool `json:"-"`
}

// RichiestaSummary is one entry of GET /richiesta.
type RichiestaSummary struct {
	ID string `json:"_id"`
	// State is 0 for a draft (not submitted, not charged); nil when the
	// answer has none, or null: not known to be a draft.
	State               *Int      `json:"state"`
	HashVisura          string    `json:"hash_visura"`
	Nome                string    `json:"nome"`
	Ricerca             Bool      `json:"ricerca"`
	IDRicerca           String    `json:"id_ricerca"`
	PrezzoVisura        Float     `json:"prezzo_visura"`
	PrezzoRicerca       Float     `json:"prezzo_ricerca"`
	IndiceRicerca       *Int      `json:"indice_ricerca"`
	StatoRichiesta      string    `json:"stato_richiesta"`
	EmailTarget         String    `json:"email_target"`
	TimestampCreation   Timestamp `json:"timestamp_creation"`
	TimestampLastUpdate Timestamp `json:"timestamp_last_update"`
	Owner               string    `json:"owner"`
	Sincrona            Bool      `json:"sincrona"`
}

// Document describes a downloaded document (GET /documento/{id}); the file
// itself was streamed to the caller's writer.
type Document struct {
	Nome       string // file name, e.g. "5f22f5b5065afc21cc60a27a.zip"
	Dimensione int64  // size the API declares, in bytes
	Written    int64  // bytes written to the writer after base64 decoding
}
