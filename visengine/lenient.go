package visengine

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// The API is a PHP backend: a value may arrive in another JSON type than the
// description says, or be malformed. The decoders here keep what matters to
// a caller strict (a request's _id) and decode the rest leniently: a value
// that does not decode leaves its field zero instead of failing the answer.

// lenient returns a setter that decodes raw into *dst and leaves *dst alone
// when raw does not decode.
func lenient[T any](dst *T) func([]byte) {
	return func(raw []byte) {
		var v T
		if json.Unmarshal(raw, &v) == nil {
			*dst = v
		}
	}
}

// lenientText returns a setter for a string field that also takes a number
// (as written); null is "", objects and lists leave *dst alone.
func lenientText(dst *string) func([]byte) {
	return func(raw []byte) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] == '{' || raw[0] == '[' {
			return
		}
		var v String
		if v.UnmarshalJSON(raw) == nil {
			*dst = string(v)
		}
	}
}

// maxIDLen bounds a request id as read from an answer.
const maxIDLen = 1 << 10

// decodeID reads a request id: a string, a number (as written) or MongoDB's
// extended JSON {"$oid": "…"}; false when raw is none of these or empty.
func decodeID(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	var id string
	switch raw[0] {
	case '{':
		var oid struct {
			Oid string `json:"$oid"`
		}
		if json.Unmarshal(raw, &oid) != nil {
			return "", false
		}
		id = oid.Oid
	case '"':
		if json.Unmarshal(raw, &id) != nil {
			return "", false
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		id = string(raw)
	}
	id = strings.TrimSpace(id)
	return id, id != ""
}

// errSummary reports a request summary without the fields reconciliation
// depends on.
var errSummary = errors.New("visengine: a request summary lacks a readable _id, hash_visura or timestamp_creation")

// UnmarshalJSON implements json.Unmarshaler. _id, hash_visura and
// timestamp_creation must be present and readable: a caller looking for
// the request an unanswered POST created depends on them, and must not take
// an unreadable entry for no entry. The other fields decode leniently, and
// stato_richiesta is normalised (NormalizeState).
func (r *RichiestaSummary) UnmarshalJSON(data []byte) error {
	var out RichiestaSummary
	var need [3]bool
	err := eachMember(data, func(key string, raw json.RawMessage) error {
		switch key {
		case "_id":
			out.ID, need[0] = decodeID(raw)
		case "hash_visura":
			var h String
			need[1] = h.UnmarshalJSON(raw) == nil && h != ""
			out.HashVisura = string(h)
		case "timestamp_creation":
			need[2] = out.TimestampCreation.UnmarshalJSON(raw) == nil && out.TimestampCreation != 0
		default:
			if set := out.setter(key); set != nil {
				set(raw)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if need != [3]bool{true, true, true} {
		return errSummary
	}
	out.StatoRichiesta = NormalizeState(out.StatoRichiesta)
	*r = out
	return nil
}

// setter returns the lenient setter of a summary's key; nil for unknown keys.
func (r *RichiestaSummary) setter(key string) func([]byte) {
	switch key {
	case "state":
		return lenient(&r.State)
	case "nome":
		return lenientText(&r.Nome)
	case "ricerca":
		return lenient(&r.Ricerca)
	case "id_ricerca":
		return lenient(&r.IDRicerca)
	case "prezzo_visura":
		return lenient(&r.PrezzoVisura)
	case "prezzo_ricerca":
		return lenient(&r.PrezzoRicerca)
	case "indice_ricerca":
		return lenient(&r.IndiceRicerca)
	case "stato_richiesta":
		return lenientText(&r.StatoRichiesta)
	case "email_target":
		return lenient(&r.EmailTarget)
	case "timestamp_last_update":
		return lenient(&r.TimestampLastUpdate)
	case "owner":
		return lenientText(&r.Owner)
	case "sincrona":
		return lenient(&r.Sincrona)
	}
	return nil
}

// Campi are a service's input fields keyed "$0", "$1", …. PHP's forms of
// nothing (an empty list, as json_encode writes an empty array, null,
// false, "") decode as no fields.
type Campi map[string]Campo

// UnmarshalJSON implements json.Unmarshaler.
func (c *Campi) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if isNothing(data) {
		*c = Campi{}
		return nil
	}
	if len(data) > 0 && data[0] == '[' { // not empty: isNothing took [] and [ ]
		return errors.New("visengine: campi is a non-empty list, want an object keyed $0, $1, …")
	}
	var m map[string]Campo
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	*c = m
	return nil
}
