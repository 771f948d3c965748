package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Service is one catalog entry (a visura): its input fields, validation rule,
// prices and options, as GET /visure/{hash} describes it.
type Service struct {
	Name               string   // nome_visura
	Category           string   // nome_categoria, e.g. "Patronato"
	Hash               string   // hash_visura: opaque, 32 characters
	Price              float64  // prezzo_visura, euro
	PriceUnpublished   bool     // prezzo_visura is sent as null; requests are charged Price all the same
	SearchPrice        float64  // prezzo_ricerca, euro
	Search             bool     // ricerca
	Sync               bool     // sincrona
	Options            []Option // opzioni; nil is sent as null
	Fields             []Field  // campi: Fields[i] is "$i"
	Validation         string   // validazione, e.g. "$0 && $1"
	Instructions       string   // istruzioni as HTML; sent base64-encoded
	SearchInstructions string   // istruzioni_ricerca, sent as is
	Handler            string   // the "callback" shown on requests, e.g. "_rib_cam_Ordinaria"
}

// Option is a priced option of a service (opzioni), e.g. urgency.
type Option struct {
	Type  string  `json:"tipo"`
	Price float64 `json:"prezzo"`
	Name  string  `json:"nome"` // "opzione_0", …: the key chosen in POST opzioni
	// PriceUnpublished: the service's schema sends prezzo as null; a
	// request that chooses the option is charged Price all the same, and
	// its answer says so.
	PriceUnpublished bool `json:"-"`
}

// optionWire is an option as the service's schema publishes it.
type optionWire struct {
	Type  string   `json:"tipo"`
	Price *float64 `json:"prezzo"` // nil: null, PriceUnpublished
	Name  string   `json:"nome"`
}

// Field is one input field of a service (a campo).
type Field struct {
	Name         string // nome, e.g. "Nome *"
	Type         string // tipo, e.g. "testo", "codice_fiscale_persona_fisica", "file"
	Optional     bool   // null: the field may be empty
	NullAsString bool   // send null as the string "0"/"1" rather than a boolean, as the API sometimes does
	Order        string // ordine (a numeric string); omitted when empty
	Instructions string // istruzioni, plain text
	Choices      string // opzioni of the field; omitted when empty
}

// fieldWire is a Field as the API sends it.
type fieldWire struct {
	Nome       string `json:"nome"`
	Tipo       string `json:"tipo"`
	Null       any    `json:"null"`
	Istruzioni string `json:"istruzioni"`
	Ordine     string `json:"ordine,omitempty"`
	Opzioni    string `json:"opzioni,omitempty"`
}

func (f Field) wire() fieldWire {
	var null any = f.Optional
	if f.NullAsString {
		null = "0"
		if f.Optional {
			null = "1"
		}
	}
	return fieldWire{Nome: f.Name, Tipo: f.Type, Null: null, Istruzioni: f.Instructions, Ordine: f.Order, Opzioni: f.Choices}
}

// service is a Service compiled for serving.
type service struct {
	Service
	rule     *expr
	detail   []byte // the whole GET /visure/{hash} answer
	isFile   []bool // per field: tipo "file"
	options  map[string]Option
	price    int64 // prezzo_visura + prezzo_ricerca, cents
	position int   // index in the catalog
}

// catalog is the compiled set of services.
type catalog struct {
	byHash map[string]*service
	list   []byte // the whole GET /visure answer
}

// compileCatalog prepares every answer that depends only on the catalog.
func compileCatalog(services []Service) (*catalog, error) {
	c := &catalog{byHash: make(map[string]*service, len(services))}
	summaries := make([]visuraSummary, 0, len(services))
	for i, svc := range services {
		s, err := compileService(svc)
		if err != nil {
			return nil, fmt.Errorf("sim: service %q: %w", svc.Hash, err)
		}
		if _, dup := c.byHash[svc.Hash]; dup {
			return nil, fmt.Errorf("sim: duplicate hash_visura %q", svc.Hash)
		}
		s.position = i
		c.byHash[svc.Hash] = s
		summaries = append(summaries, visuraSummary{svc.Name, svc.Category, svc.Hash})
	}
	list, err := json.Marshal(summaries)
	if err != nil {
		return nil, fmt.Errorf("sim: encode catalog: %w", err)
	}
	c.list = successBody(list)
	return c, nil
}

func compileService(svc Service) (*service, error) {
	rule, err := parseExpr(svc.Validation)
	if err != nil {
		return nil, err
	}
	s := &service{Service: svc, rule: rule, options: make(map[string]Option, len(svc.Options))}
	s.price = cents(svc.Price) + cents(svc.SearchPrice)
	for _, o := range svc.Options {
		s.options[o.Name] = o
	}
	s.isFile = make([]bool, len(svc.Fields))
	for i, f := range svc.Fields {
		s.isFile[i] = f.Type == "file"
	}
	data, err := encodeVisura(svc)
	if err != nil {
		return nil, err
	}
	s.detail = successBody(data)
	return s, nil
}

type visuraSummary struct {
	Nome      string `json:"nome_visura"`
	Categoria string `json:"nome_categoria"`
	Hash      string `json:"hash_visura"`
}

// visuraWire is a Service as GET /visure/{hash} sends it, in the example's key order.
type visuraWire struct {
	Nome          string        `json:"nome_visura"`
	Ricerca       bool          `json:"ricerca"`
	Categoria     string        `json:"nome_categoria"`
	JSONStruttura strutturaWire `json:"json_struttura"`
	Hash          string        `json:"hash_visura"`
	PrezzoVisura  *float64      `json:"prezzo_visura"` // nil: null, PriceUnpublished
	PrezzoRicerca float64       `json:"prezzo_ricerca"`
	Sincrona      bool          `json:"sincrona"`
	Opzioni       []optionWire  `json:"opzioni"`
}

type strutturaWire struct {
	Campi             json.RawMessage `json:"campi"`
	Validazione       string          `json:"validazione"`
	Istruzioni        string          `json:"istruzioni"`
	IstruzioniRicerca string          `json:"istruzioni_ricerca"`
}

func encodeVisura(svc Service) ([]byte, error) {
	campi, err := encodeCampi(svc.Fields)
	if err != nil {
		return nil, err
	}
	price := &svc.Price
	if svc.PriceUnpublished {
		price = nil
	}
	var opzioni []optionWire // nil options are sent as null, empty ones as []
	if svc.Options != nil {
		opzioni = make([]optionWire, 0, len(svc.Options))
	}
	for _, o := range svc.Options {
		w := optionWire{Type: o.Type, Price: &o.Price, Name: o.Name}
		if o.PriceUnpublished {
			w.Price = nil
		}
		opzioni = append(opzioni, w)
	}
	return json.Marshal(visuraWire{
		Nome:      svc.Name,
		Ricerca:   svc.Search,
		Categoria: svc.Category,
		JSONStruttura: strutturaWire{
			Campi:             campi,
			Validazione:       svc.Validation,
			Istruzioni:        base64.StdEncoding.EncodeToString([]byte(svc.Instructions)),
			IstruzioniRicerca: svc.SearchInstructions,
		},
		Hash:          svc.Hash,
		PrezzoVisura:  price,
		PrezzoRicerca: svc.SearchPrice,
		Sincrona:      svc.Sync,
		Opzioni:       opzioni,
	})
}

// encodeCampi writes the fields as an object keyed "$0", "$1", … in numeric
// order ("$2" before "$10"), as the API does; a Go map would sort the keys as strings.
func encodeCampi(fields []Field) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"$%d":`, i)
		v, err := json.Marshal(f.wire())
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// cents converts euro to whole cents.
func cents(euro float64) int64 { return int64(math.Round(euro * 100)) }

// formatEuro writes cents as the API writes euro amounts: "182.03", "1000".
func formatEuro(c int64) string { return strconv.FormatFloat(float64(c)/100, 'f', -1, 64) }
