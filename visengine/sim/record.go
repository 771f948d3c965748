package sim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fieldValue is one json_visura value; set tells an empty value from an
// absent one. payload is the length of an inline file's base64 payload,
// which v holds only when the request keeps files (EchoFiles).
type fieldValue struct {
	v       string
	set     bool
	payload int
}

// record is one request (richiesta). The immutable part is set at creation;
// the rest is guarded by mu.
type record struct {
	id       string // 24 hex digits
	key      idKey
	svc      *service
	seq      uint64 // creation order, from 1
	created  time.Time
	fate     int       // which cancellation reason, when doomed
	files    bool      // keep inline files whole (EchoFiles)
	reformat bool      // store text values reformatted (Faults.ReformatEcho)
	visible  time.Time // a late commit: unseen by GET and list calls before; zero otherwise

	mu       sync.Mutex
	life     lifecycle
	values   []fieldValue // indexed like svc.Fields
	ricerca  string       // json_ricerca, kept in step with values
	mappato  json.RawMessage
	email    *string
	callback json.RawMessage // callback_data as sent; nil when none
	target   *callbackTarget
	options  []Option // chosen options; nil when none
	motivo   string   // motivo_annullamento given with DELETE
	updated  time.Time
}

// setValues stores json_visura values (merged into the current ones) and
// recomputes json_ricerca and json_mappato. Base64 payloads of file fields are
// dropped unless the request keeps files (see the package documentation);
// keys that are not fields are ignored.
func (r *record) setValues(vals map[int]string) {
	if r.values == nil {
		r.values = make([]fieldValue, len(r.svc.Fields))
	}
	for i, v := range vals {
		if i < 0 || i >= len(r.values) {
			continue
		}
		fv := fieldValue{v: v, set: true}
		if r.svc.isFile[i] {
			elided := elidePayload(v)
			fv.payload = len(v) - len(elided)
			if !r.files {
				fv.v = elided
			}
		}
		if r.reformat {
			fv.v = reformat(r.svc.Fields[i].Type, fv.v)
		}
		r.values[i] = fv
	}
	r.ricerca, r.mappato = encodeValues(r.svc, r.values, false)
}

// reformat is a value of a field of type tipo as Faults.ReformatEcho stores
// it.
func reformat(tipo, v string) string {
	switch tipo {
	case "file", "codice_fiscale", "codice_fiscale_persona_fisica", "partita_iva":
		return v
	case "data_iso8601":
		if t, err := time.Parse(time.DateOnly, strings.TrimSpace(v)); err == nil {
			return t.Format("02/01/2006")
		}
	}
	return strings.ToUpper(strings.Join(strings.Fields(v), ""))
}

// seen reports whether GET and list calls see the request at now: not
// before a late commit's delay is over.
func (r *record) seen(now time.Time) bool { return r.visible.IsZero() || !now.Before(r.visible) }

// present reports whether field i is present and not blank, for validazione.
func presentIn(values []fieldValue) func(int) bool {
	return func(i int) bool {
		return i >= 0 && i < len(values) && values[i].set && strings.TrimSpace(values[i].v) != ""
	}
}

// elidePayload keeps "name|data:mime;base64," of an inline file.
func elidePayload(v string) string {
	if i := strings.Index(v, ";base64,"); i >= 0 && strings.Contains(v[:i], "|data:") {
		return v[:i+len(";base64,")]
	}
	return v
}

// encodeValues returns json_ricerca (a JSON document in a string, keyed "$N")
// and json_mappato (keyed by field name), both in field order. With regen,
// an elided inline file gets a made-up payload of its original length.
func encodeValues(svc *service, values []fieldValue, regen bool) (string, json.RawMessage) {
	var ric, mapped bytes.Buffer
	ric.WriteByte('{')
	mapped.WriteByte('{')
	first := true
	for i, fv := range values {
		if !fv.set {
			continue
		}
		if !first {
			ric.WriteByte(',')
			mapped.WriteByte(',')
		}
		first = false
		v := fv.v
		if regen && fv.payload > 0 && strings.HasSuffix(v, ";base64,") {
			v += strings.Repeat("A", fv.payload)
		}
		q := quote(v)
		ric.WriteString(`"$` + strconv.Itoa(i) + `":`)
		ric.Write(q)
		mapped.Write(quote(svc.Fields[i].Name))
		mapped.WriteByte(':')
		mapped.Write(q)
	}
	ric.WriteByte('}')
	mapped.WriteByte('}')
	return ric.String(), mapped.Bytes()
}

func quote(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// viewLocked renders the request as of now, echoing its input as echo
// says; the caller holds r.mu.
func (r *record) viewLocked(s *Server, now time.Time, echo Echo) richiestaWire {
	tl := r.life.timeline(s.step)
	reached, cur := tl.at(now)
	w := richiestaWire{
		ID: r.id, State: 0, HashVisura: r.svc.Hash, Nome: r.svc.Name, Callback: r.svc.Handler,
		Ricerca: r.svc.Search, PrezzoVisura: r.svc.Price, PrezzoRicerca: r.svc.SearchPrice,
		StatoRichiesta: cur.name(), EmailTarget: r.email, Allegati: []string{},
		TimestampCreation: r.created.Unix(), TimestampStati: stampsOf(reached),
		CallbackData: r.callback, Opzioni: optionsOf(r.options), Owner: s.owner, Sincrona: r.svc.Sync,
		Ricerche: []ricercaWire{}, Esito: esitoWire{Codice: "0", Info: "OK"},
	}
	if w.CallbackData == nil {
		w.CallbackData = json.RawMessage("false")
	}
	if !r.life.submitted.IsZero() {
		w.State = 1
		if echo.echoes(r.svc) {
			ric, mapped := r.ricerca, r.mappato
			if echo == EchoFiles && !r.files {
				ric, mapped = encodeValues(r.svc, r.values, true)
			}
			w.Ricerche = []ricercaWire{{IDRicerca: r.id + "_0", StatoRicerca: "Ricerca evasa", JSONRicerca: ric, JSONMappato: mapped}}
		}
	}
	if cur.hasDocument() {
		w.Allegati = []string{r.id + ".pdf"}
	}
	if cur == phCancelled {
		w.Esito, w.Motivo = r.cancellation(tl)
	}
	w.TimestampLastUpdate = lastUpdate(r.created, r.updated, reached, now).Unix()
	return w
}

// optionsOf returns the chosen options, nil (null) when there are none.
func optionsOf(o []Option) any {
	if o == nil {
		return nil
	}
	return o
}

// cancellation returns esito and motivo_annullamento of a cancelled request.
func (r *record) cancellation(tl timeline) (esitoWire, string) {
	if r.life.manualCancel(tl) {
		return esitoWire{Codice: "300", Info: "Richiesta annullata dal cliente"}, r.motivo
	}
	code, info, motivo := cancelReason(r.fate)
	return esitoWire{Codice: code, Info: info}, motivo
}

// cancelReason returns the sim-chosen outcome n of requests doomed by CancelRate.
func cancelReason(n int) (code, info, motivo string) {
	switch n % 3 {
	case 0:
		return "301", "KO - documento d'identità non leggibile", "Documento d'identità non leggibile o scaduto"
	case 1:
		return "302", "KO - delega (mandato) mancante o non firmata", "Delega (mandato) mancante o non firmata"
	}
	return "303", "KO - dati anagrafici non coerenti con il codice fiscale", "Dati anagrafici non corrispondenti al codice fiscale"
}

func lastUpdate(created, updated time.Time, reached timeline, now time.Time) time.Time {
	last := created
	if updated.After(last) && !updated.After(now) {
		last = updated
	}
	for _, t := range reached {
		if t.After(last) {
			last = t
		}
	}
	return last
}
