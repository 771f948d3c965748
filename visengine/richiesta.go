package visengine

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// The answers about one request (POST /richiesta, GET/PUT/DELETE
// /richiesta/{id}) echo the request's input: json_ricerca and json_mappato
// hold every value sent, inline files ("name|data:mime;base64,<MBs>")
// included. Such an answer can be far larger than what a caller needs, and
// for a POST the answer is the only proof of a paid request. So it is
// decoded while it streams: what is kept is bounded (MaxValueBytes per
// value, MaxResponseBytes in all), what is not kept is skipped whatever its
// size, and file payloads are never read into memory.

// errNotRequest reports a successful answer whose "data" is not a request.
var errNotRequest = errors.New(`answer "data" is not a request object`)

// errOtherRequest reports a successful answer to a call on /richiesta/{id}
// whose "data" names another request, or none. A cache or gateway that
// mixes answers up would otherwise have a caller take another request's
// state (tracking: Annullata) or adopt another request as its own.
var errOtherRequest = errors.New(`answer "data" names another request than the one asked for, or none`)

// fileMarker ends the part of an inline file's value that is kept.
const fileMarker = ";base64,"

// budget bounds what one answer keeps.
type budget struct {
	perValue int   // MaxValueBytes
	left     int64 // what is left of MaxResponseBytes
}

// room is the most the next value may keep.
func (b *budget) room() int { return int(min(int64(b.perValue), max(b.left, 0))) }

func (b *budget) take(n int) { b.left -= int64(n) }

// richiestaAnswer streams the "data" of a request answer into a Richiesta.
type richiestaAnswer struct {
	r       Richiesta
	b       budget
	object  bool   // "data" was an object
	salvage bool   // POST, PUT, DELETE: an answer that breaks off after _id is a success
	want    string // the id the call asked for; "" for POST /richiesta
	// only, when set, names the only members kept; the others are skipped
	// as they stream (ReadCallback).
	only func(key string) bool
}

func newRichiestaAnswer(perValue int, total int64, salvage bool) *richiestaAnswer {
	return &richiestaAnswer{b: budget{perValue: perValue, left: total}, salvage: salvage}
}

func (a *richiestaAnswer) data(s *scanner) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		return s.skip()
	}
	a.object = true
	return s.object(func(key string) error {
		if a.only != nil && !a.only(key) {
			return s.skip()
		}
		return a.member(s, key)
	})
}

func (a *richiestaAnswer) complete() error {
	if !a.object {
		return errNotRequest
	}
	if a.want != "" && a.r.ID != a.want {
		return errOtherRequest
	}
	a.r.StatoRichiesta = NormalizeState(a.r.StatoRichiesta)
	return nil
}

// salvaged reports whether the answer may still succeed after a failure: a
// POST, PUT or DELETE whose _id was read changed something that now has a
// name, and a caller must not take it for a lost answer.
func (a *richiestaAnswer) salvaged() bool {
	if !a.salvage || a.r.ID == "" {
		return false
	}
	a.r.Partial = true
	return true
}

// named reports whether the answer named a request.
func (a *richiestaAnswer) named() bool { return a.r.ID != "" }

func (a *richiestaAnswer) member(s *scanner, key string) error {
	switch key {
	case "_id":
		raw, whole, err := s.value(maxIDLen)
		if err == nil {
			a.r.ID = ""
			if whole {
				a.r.ID, _ = decodeID(raw)
			}
		}
		return err
	case "ricerche":
		return a.ricerche(s)
	}
	set := a.r.setter(key)
	if set == nil {
		return s.skip()
	}
	raw, ok, err := a.keep(s)
	if ok {
		set(raw)
	}
	return err
}

// keep reads the next value, keeping its raw text when it fits the budget.
func (a *richiestaAnswer) keep(s *scanner) ([]byte, bool, error) {
	raw, whole, err := s.value(a.b.room())
	if err != nil || !whole {
		return nil, false, err
	}
	a.b.take(len(raw))
	return raw, true, nil
}

// setter returns the lenient setter of a request's key; nil for keys that
// are not kept.
func (r *Richiesta) setter(key string) func([]byte) {
	switch key {
	case "state":
		return lenient(&r.State)
	case "hash_visura":
		return lenientText(&r.HashVisura)
	case "nome":
		return lenientText(&r.Nome)
	case "callback":
		return lenient(&r.Callback)
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
	case "allegati":
		return func(raw []byte) { r.Allegati = names(raw) }
	case "timestamp_creation":
		return lenient(&r.TimestampCreation)
	case "timestamp_last_update":
		return lenient(&r.TimestampLastUpdate)
	case "timestamp_stati":
		return lenient(&r.TimestampStati)
	case "callback_data":
		return lenient(&r.CallbackData)
	case "opzioni":
		return lenient(&r.Opzioni)
	case "owner":
		return lenientText(&r.Owner)
	case "sincrona":
		return lenient(&r.Sincrona)
	case "esito":
		return lenient(&r.Esito)
	case "motivo_annullamento":
		return lenient(&r.MotivoAnnullamento)
	}
	return nil
}

// names decodes allegati: a list of file names, or an object of them keyed
// "0", "1", …; nil when it is neither.
func names(raw []byte) []string {
	var l list[String]
	if json.Unmarshal(raw, &l) != nil {
		return nil
	}
	out := make([]string, len(l))
	for i, n := range l {
		out[i] = string(n)
	}
	return out
}

// ricerche reads the searches: a list, or an object keyed "0", "1", ….
func (a *richiestaAnswer) ricerche(s *scanner) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	each := func(string) error { return a.ricerca(s) }
	switch c {
	case '[':
		a.r.Ricerche = []Ricerca{}
		return s.array(func() error { return each("") })
	case '{':
		a.r.Ricerche = []Ricerca{}
		return s.object(each)
	default: // null, false, "": no searches
		return s.skip()
	}
}

// ricerca reads one search; anything but an object is skipped.
func (a *richiestaAnswer) ricerca(s *scanner) error {
	c, err := s.peek()
	if err != nil {
		return err
	}
	if c != '{' {
		return s.skip()
	}
	var r Ricerca
	err = s.object(func(key string) error {
		var err error
		switch key {
		case "json_ricerca":
			r.Input, r.Cut, err = a.values(s)
		case "json_mappato":
			r.Mapped, r.MappedCut, err = a.values(s)
		case "json_risultato":
			r.JSONRisultato, r.RisultatoCut, err = a.risultato(s)
		case "id_ricerca":
			err = a.set(s, lenient(&r.IDRicerca))
		case "stato_ricerca":
			err = a.set(s, lenientText(&r.StatoRicerca))
		default:
			err = s.skip()
		}
		return err
	})
	a.r.Ricerche = append(a.r.Ricerche, r)
	return err
}

// set keeps the next value and hands it to set.
func (a *richiestaAnswer) set(s *scanner, set func([]byte)) error {
	raw, ok, err := a.keep(s)
	if ok {
		set(raw)
	}
	return err
}

// risultato reads json_risultato: a JSON document in a string (or sent as
// JSON itself), or null.
func (a *richiestaAnswer) risultato(s *scanner) (*string, bool, error) {
	raw, ok, err := a.keep(s)
	if err != nil || !ok {
		return nil, err == nil, err
	}
	raw = bytes.TrimSpace(raw)
	if raw[0] == '{' || raw[0] == '[' {
		v := string(raw)
		return &v, false, nil
	}
	var v *string
	lenient(&v)(raw)
	return v, false, nil
}

// values reads json_ricerca or json_mappato: an object of values, or a JSON
// document in a string holding one, which is fed to a second scanner as it
// streams. It returns the values kept and the keys cut; both nil when the
// value is not an object (the input is unknown).
func (a *richiestaAnswer) values(s *scanner) (map[string]string, map[string]bool, error) {
	c, err := s.peek()
	if err != nil {
		return nil, nil, err
	}
	switch c {
	case '{', '[':
		return a.valueObject(s)
	case '"':
	default:
		return nil, nil, s.skip()
	}
	sr, err := s.str()
	if err != nil {
		return nil, nil, err
	}
	in, cut, ierr := a.valueObject(newScanner(sr, 4<<10))
	// What is left of the string is skipped; a failure here is the
	// answer's own (it broke off), which the inner error may have been too.
	if _, err := io.Copy(io.Discard, sr); err != nil {
		return nil, nil, err
	}
	if ierr != nil {
		return nil, nil, nil // not a JSON object: the input is unknown
	}
	return in, cut, nil
}

// valueObject reads an object of values ("$N" or field name → value). An
// empty list is PHP's empty object; any other list is unknown input.
func (a *richiestaAnswer) valueObject(s *scanner) (map[string]string, map[string]bool, error) {
	c, err := s.peek()
	if err != nil {
		return nil, nil, err
	}
	if c == '[' {
		n := 0
		err := s.array(func() error { n++; return s.skip() })
		if n > 0 {
			return nil, nil, err
		}
		return map[string]string{}, nil, err
	}
	in, cut := map[string]string{}, map[string]bool{}
	long := s.longKeys
	err = s.object(func(key string) error {
		v, kept, err := a.inputValue(s)
		if err == nil {
			if kept {
				in[key] = v
			} else {
				cut[key] = true
			}
		}
		return err
	})
	if s.longKeys != long {
		// A value under a key too long to keep (a field name: the API does
		// not bound them) is neither kept nor listed in cut: the input is
		// unknown.
		return nil, nil, err
	}
	if len(cut) == 0 {
		cut = nil
	}
	return in, cut, err
}

// inputValue reads one input value: a string (an inline file's payload
// elided) or a number, kept as written. Anything else is not a value iseed
// sends, and is not kept.
func (a *richiestaAnswer) inputValue(s *scanner) (string, bool, error) {
	c, err := s.peek()
	if err != nil {
		return "", false, err
	}
	switch {
	case c == '"':
		return a.stringValue(s)
	case c == '-' || c >= '0' && c <= '9':
		raw, ok, err := a.keep(s)
		return string(raw), ok, err
	default:
		return "", false, s.skip()
	}
}

// stringValue reads a string value within the budget. An inline file's
// value is kept up to its payload ("name|data:mime;base64,"), whose bytes
// are skipped as they arrive. A value over the budget is skipped: kept is
// false.
func (a *richiestaAnswer) stringValue(s *scanner) (v string, kept bool, err error) {
	sr, err := s.str()
	if err != nil {
		return "", false, err
	}
	limit := a.b.room()
	var (
		buf   []byte
		chunk [4 << 10]byte
		from  int
	)
	for {
		n, rerr := sr.Read(chunk[:])
		buf = append(buf, chunk[:n]...)
		if i := inlineFile(buf, from); i >= 0 && i+len(fileMarker) <= limit {
			if _, err := io.Copy(io.Discard, sr); err != nil {
				return "", false, err
			}
			buf = buf[:i+len(fileMarker)]
			a.b.take(len(buf))
			return validUTF8(buf), true, nil
		}
		from = max(len(buf)-len(fileMarker)+1, 0)
		switch {
		case rerr != nil && rerr != io.EOF:
			return "", false, rerr
		case len(buf) > limit:
			_, err := io.Copy(io.Discard, sr)
			return "", false, err
		case rerr == io.EOF:
			a.b.take(len(buf))
			return validUTF8(buf), true, nil
		}
	}
}

// inlineFile returns where the payload marker of an inline file's value
// ("name|data:mime;base64,") starts in buf, searching from from; -1 when
// buf holds none yet.
func inlineFile(buf []byte, from int) int {
	for {
		j := bytes.Index(buf[from:], []byte(fileMarker))
		if j < 0 {
			return -1
		}
		i := from + j
		if bytes.Contains(buf[:i], []byte("|data:")) {
			return i
		}
		from = i + 1
	}
}
