package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// The shape knobs change how an answer is written, as a PHP backend may
// write it, never what it says. Each fires per call of its endpoint key.

// Knob fires for the next Next calls, then for a Rate share of calls.
type Knob struct {
	Rate float64 `json:"rate,omitempty"`
	Next int     `json:"next,omitempty"`
}

// PreambleFault writes a UTF-8 byte order mark and/or a PHP notice before
// the JSON of an answer (success or error).
type PreambleFault struct {
	Kind string  `json:"kind,omitempty"` // PreambleBOM, PreambleNotice (the default) or PreambleBoth
	Rate float64 `json:"rate,omitempty"`
	Next int     `json:"next,omitempty"`
}

// Preamble kinds.
const (
	PreambleBOM    = "bom"
	PreambleNotice = "notice"
	PreambleBoth   = "both"
)

// phpNotice is what PHP prints for a notice with display_errors on.
const phpNotice = "<br />\n<b>Notice</b>:  Undefined index: foo in /var/www/api/Richiesta.php on line 12<br />\n"

// OversizeFault makes answers large: Pad bytes of padding in an extra key
// ("_padding", first in "data" when it is an object, else first in the
// envelope), written as they go out, and/or, with Files, the request's
// inline files echoed whole in json_ricerca and json_mappato (as EchoFiles;
// files not kept are echoed with a made-up payload of their size).
type OversizeFault struct {
	Pad   int     `json:"pad,omitempty"` // bytes, at most 1 GiB
	Files bool    `json:"files,omitempty"`
	Rate  float64 `json:"rate,omitempty"`
	Next  int     `json:"next,omitempty"`
}

const maxPad = 1 << 30

// validateShapes checks the shape knobs.
func (f Faults) validateShapes() error {
	for k, p := range f.Preamble {
		if err := checkKnob(k, p.Rate, p.Next); err != nil {
			return fmt.Errorf("preamble: %w", err)
		}
		if p.Kind != "" && p.Kind != PreambleBOM && p.Kind != PreambleNotice && p.Kind != PreambleBoth {
			return fmt.Errorf("preamble[%q]: kind %q: want %q, %q or %q", k, p.Kind, PreambleBOM, PreambleNotice, PreambleBoth)
		}
	}
	for name, m := range map[string]map[string]Knob{"object_lists": f.ObjectLists, "php_scalars": f.PHPScalars} {
		for k, n := range m {
			if err := checkKnob(k, n.Rate, n.Next); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	for k, o := range f.Oversize {
		if err := checkKnob(k, o.Rate, o.Next); err != nil {
			return fmt.Errorf("oversize: %w", err)
		}
		if o.Pad < 0 || o.Pad > maxPad {
			return fmt.Errorf("oversize[%q]: pad %d not in 0..%d", k, o.Pad, maxPad)
		}
		if o.Pad == 0 && !o.Files {
			return errors.New("oversize[" + strconv.Quote(k) + "]: set pad or files")
		}
	}
	return nil
}

// shapeKnobs are the shape knobs compiled per endpoint.
type shapeKnobs struct {
	preamble    [numEndpoints]*valueKnob[PreambleFault]
	objectLists [numEndpoints]*valueKnob[Knob]
	phpScalars  [numEndpoints]*valueKnob[Knob]
	oversize    [numEndpoints]*valueKnob[OversizeFault]
}

// valueKnob is a trigger with the knob it was compiled from.
type valueKnob[V any] struct {
	*trigger
	key string
	v   V
}

// compileShapes indexes the shape knobs; it reports whether any is set.
func (a *activeFaults) compileShapes(f Faults) bool {
	active := false
	for _, key := range wildcardFirst(f.Preamble) {
		p := f.Preamble[key]
		if p.Kind != PreambleBOM && p.Kind != PreambleBoth {
			p.Kind = PreambleNotice
		}
		k := &valueKnob[PreambleFault]{trigger: newTrigger(p.Rate, p.Next), key: key, v: p}
		active = a.index(key, func(ep endpoint) { a.shapes.preamble[ep] = k }) || active
	}
	active = compileKnobs(a, f.ObjectLists, &a.shapes.objectLists) || active
	active = compileKnobs(a, f.PHPScalars, &a.shapes.phpScalars) || active
	for _, key := range wildcardFirst(f.Oversize) {
		o := f.Oversize[key]
		o.Pad = min(max(o.Pad, 0), maxPad)
		k := &valueKnob[OversizeFault]{trigger: newTrigger(o.Rate, o.Next), key: key, v: o}
		active = a.index(key, func(ep endpoint) { a.shapes.oversize[ep] = k }) || active
	}
	return active
}

func compileKnobs(a *activeFaults, m map[string]Knob, dst *[numEndpoints]*valueKnob[Knob]) bool {
	active := false
	for _, key := range wildcardFirst(m) {
		n := m[key]
		k := &valueKnob[Knob]{trigger: newTrigger(n.Rate, n.Next), key: key, v: n}
		active = a.index(key, func(ep endpoint) { dst[ep] = k }) || active
	}
	return active
}

// snapshot adds the shape knobs, with Next showing what is left, to f.
func (k *shapeKnobs) snapshot(f *Faults) {
	for ep := range endpoint(numEndpoints) {
		if p := k.preamble[ep]; p != nil {
			v := p.v
			v.Next = p.remaining()
			f.Preamble = put(f.Preamble, p.key, v)
		}
		if n := k.objectLists[ep]; n != nil {
			f.ObjectLists = put(f.ObjectLists, n.key, Knob{Rate: n.rate, Next: n.remaining()})
		}
		if n := k.phpScalars[ep]; n != nil {
			f.PHPScalars = put(f.PHPScalars, n.key, Knob{Rate: n.rate, Next: n.remaining()})
		}
		if o := k.oversize[ep]; o != nil {
			v := o.v
			v.Next = o.remaining()
			f.Oversize = put(f.Oversize, o.key, v)
		}
	}
}

func put[V any](m map[string]V, k string, v V) map[string]V {
	if m == nil {
		m = make(map[string]V)
	}
	m[k] = v
	return m
}

// shape is how one answer is written.
type shape struct {
	preamble    string // written before the JSON
	pad         int    // bytes of "_padding"
	files       bool   // echo inline files whole
	objectLists bool   // ricerche, allegati, opzioni as objects keyed "0", "1", …
	phpScalars  bool   // prices as "11,70", dimensione as a string, odd stato_richiesta
}

// draw fires the shape knobs of an endpoint for one call.
func (k *shapeKnobs) draw(ep endpoint, chance func() float64) shape {
	var sh shape
	if p := k.preamble[ep]; p != nil && p.fire(chance) {
		sh.preamble = preambleText(p.v.Kind)
	}
	if o := k.oversize[ep]; o != nil && o.fire(chance) {
		sh.pad, sh.files = o.v.Pad, o.v.Files
	}
	sh.objectLists = k.objectLists[ep] != nil && k.objectLists[ep].fire(chance)
	sh.phpScalars = k.phpScalars[ep] != nil && k.phpScalars[ep].fire(chance)
	return sh
}

func preambleText(kind string) string {
	switch kind {
	case PreambleBOM:
		return "\ufeff"
	case PreambleBoth:
		return "\ufeff" + phpNotice
	}
	return phpNotice
}

// echo is the echo mode of a request view under the shape.
func (sh shape) echo(e Echo) Echo {
	if sh.files {
		return EchoFiles
	}
	return e
}

// request reshapes a request view.
func (sh shape) request(v *richiestaWire) {
	if sh.objectLists {
		v.Allegati, v.Opzioni, v.Ricerche = objectList(v.Allegati), objectList(v.Opzioni), objectList(v.Ricerche)
	}
	if sh.phpScalars {
		v.PrezzoVisura, v.PrezzoRicerca = phpEuro(v.PrezzoVisura), phpEuro(v.PrezzoRicerca)
		v.StatoRichiesta = oddState(v.StatoRichiesta)
	}
}

// summary reshapes a GET /richiesta entry.
func (sh shape) summary(v *summaryWire) {
	if sh.phpScalars {
		v.PrezzoVisura, v.PrezzoRicerca = phpEuro(v.PrezzoVisura), phpEuro(v.PrezzoRicerca)
		v.StatoRichiesta = oddState(v.StatoRichiesta)
	}
}

// document reshapes a GET /documento/{id} answer.
func (sh shape) document(v *documentWire) {
	if n, ok := v.Dimensione.(int); ok && sh.phpScalars {
		v.Dimensione = strconv.Itoa(n)
	}
}

// objectList writes a non-empty list as PHP writes an array whose keys are
// not 0, 1, … in order: an object keyed "0", "1", …, in list order.
func objectList(list any) any {
	rv := reflect.ValueOf(list)
	if rv.Kind() != reflect.Slice || rv.Len() == 0 {
		return list
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range rv.Len() {
		if i > 0 {
			b.WriteByte(',')
		}
		item, err := json.Marshal(rv.Index(i).Interface())
		if err != nil {
			return list
		}
		fmt.Fprintf(&b, `"%d":`, i)
		b.Write(item)
	}
	b.WriteByte('}')
	return json.RawMessage(b.Bytes())
}

// phpEuro writes a price as PHP's number_format does for Italy: "11,70",
// "1.234,50".
func phpEuro(v any) any {
	f, ok := v.(float64)
	if !ok {
		return v
	}
	c := cents(f)
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	whole := strconv.FormatInt(c/100, 10)
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "." + whole[i:]
	}
	return fmt.Sprintf("%s%s,%02d", sign, whole, c%100)
}

// oddState spells a state as a careless backend might: " in  erogazione ".
func oddState(s string) string {
	return " " + strings.ToLower(strings.ReplaceAll(s, " ", "  ")) + " "
}

// shapedWriter writes an answer's preamble and padding around what the
// handler writes, and corrects its Content-Length.
type shapedWriter struct {
	http.ResponseWriter
	preamble    string
	pad         int
	wroteHeader bool
	started     bool
}

// padding is `"_padding":"…",` around pad bytes.
const (
	padOpen  = `"_padding":"`
	padClose = `",`
)

func (w *shapedWriter) extra() int {
	n := len(w.preamble)
	if w.pad > 0 {
		n += len(padOpen) + w.pad + len(padClose)
	}
	return n
}

// WriteHeader implements http.ResponseWriter.
func (w *shapedWriter) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	h := w.Header()
	if n, err := strconv.Atoi(h.Get("Content-Length")); err == nil {
		h.Set("Content-Length", strconv.Itoa(n+w.extra()))
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write implements http.ResponseWriter: the first write gets the preamble
// and the padding, as the first member of "data" when it is an object with
// members, else of the envelope.
func (w *shapedWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.started {
		return w.ResponseWriter.Write(p)
	}
	w.started = true
	if _, err := io.WriteString(w.ResponseWriter, w.preamble); err != nil {
		return 0, err
	}
	if w.pad == 0 || len(p) == 0 || p[0] != '{' {
		return w.ResponseWriter.Write(p)
	}
	at := 1
	if bytes.HasPrefix(p, []byte(`{"data":{"`)) {
		at = len(`{"data":{`)
	}
	if _, err := w.ResponseWriter.Write(p[:at]); err != nil {
		return 0, err
	}
	if err := writePadding(w.ResponseWriter, w.pad); err != nil {
		return 0, err
	}
	n, err := w.ResponseWriter.Write(p[at:])
	return at + n, err
}

// writePadding writes `"_padding":"AAA…",` with n bytes of padding, a few
// KiB at a time.
func writePadding(w io.Writer, n int) error {
	if _, err := io.WriteString(w, padOpen); err != nil {
		return err
	}
	chunk := bytes.Repeat([]byte("A"), min(n, 32<<10))
	for n > 0 {
		k, err := w.Write(chunk[:min(n, len(chunk))])
		if err != nil {
			return err
		}
		n -= k
	}
	_, err := io.WriteString(w, padClose)
	return err
}

// Flush implements http.Flusher when the underlying writer does.
func (w *shapedWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
