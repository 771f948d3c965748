package tracking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// The prior-ISEE rule. The provider accepts ISEE CORRENTE and Rettifica
// ISEE only from someone who already made an ISEE request through it.
// History remembers, per tax code, that an ISEE request completed through
// iseed; its Allow is the pipeline's Gate and rejects a current or
// rectification ISEE without one, with the code prior_isee_required,
// before anything is sent or charged.
//
// Tax codes are never stored: the KV key is HMAC-SHA256(key, upper-cased
// tax code) in hex, so read access to the bucket alone reveals nothing and
// a guess cannot be checked without the key.
//
// What counts as an ISEE request: any service whose catalog name contains
// "ISEE" (ordinary, socio-sanitario, current, rectification) reaching
// completed. The tax code of a completed request is read back from the
// upstream request's recorded input (json_ricerca of its first search) and
// the service's codice_fiscale_persona_fisica field; a request that records
// no input is not noted (the rule can be switched off for such accounts).

// Schemas resolves a service by catalog name or hash.
type Schemas interface {
	Service(ctx context.Context, nameOrHash string) (*schema.Service, error)
}

// History is the keyed-hash record of tax codes with a completed ISEE.
type History struct {
	kv      jetstream.KeyValue
	key     []byte
	schemas Schemas
}

// NewHistory returns a History over the history bucket. key (at least 16
// bytes) keys the tax-code hash; schemas resolves services to find the
// tax-code field of a completed request.
func NewHistory(kv jetstream.KeyValue, key []byte, schemas Schemas) (*History, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("tax-code key: got %d bytes, want at least 16", len(key))
	}
	return &History{kv: kv, key: key, schemas: schemas}, nil
}

// needsPrior reports whether a service (by catalog name) needs a prior
// completed ISEE.
func needsPrior(service string) bool {
	switch strings.ToUpper(strings.TrimSpace(service)) {
	case "ISEE CORRENTE", "RETTIFICA ISEE":
		return true
	}
	return false
}

func countsAsISEE(service string) bool {
	return strings.Contains(strings.ToUpper(service), "ISEE")
}

// hash is the KV key of a tax code.
func (h *History) hash(taxCode string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(strings.ToUpper(strings.TrimSpace(taxCode))))
	return hex.EncodeToString(m.Sum(nil))
}

// Has reports whether an ISEE request completed for the tax code.
func (h *History) Has(ctx context.Context, taxCode string) (bool, error) {
	_, err := h.kv.Get(ctx, h.hash(taxCode))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("isee history: %w", err)
	}
	return true, nil
}

// Note records that an ISEE request completed for the tax code.
func (h *History) Note(ctx context.Context, taxCode string, at time.Time) error {
	v, _ := json.Marshal(struct {
		Completed time.Time `json:"completed"`
	}{at.UTC()})
	if _, err := h.kv.Put(ctx, h.hash(taxCode), v); err != nil {
		return fmt.Errorf("isee history: %w", err)
	}
	return nil
}

// NoteCompleted records the tax code of a completed ISEE request, read from
// the upstream request's recorded input. It does nothing for other services
// or when the request records no tax code.
func (h *History) NoteCompleted(ctx context.Context, rec *record.Record, r *visengine.Richiesta) error {
	if !countsAsISEE(rec.Service) || len(r.Ricerche) == 0 || r.Ricerche[0].JSONRicerca == "" {
		return nil
	}
	var input map[string]string
	if err := json.Unmarshal([]byte(r.Ricerche[0].JSONRicerca), &input); err != nil {
		return nil // not in the shape iseed knows: nothing to note
	}
	name := rec.ServiceHash
	if name == "" {
		name = rec.Service
	}
	svc, err := h.schemas.Service(ctx, name)
	if errors.Is(err, schema.ErrUnknownService) {
		return nil // gone from the catalog: the tax-code field cannot be found
	}
	if err != nil {
		return fmt.Errorf("isee history: resolve %s: %w", name, err)
	}
	tc, ok := svc.TaxCode(&schema.Prepared{JSONVisura: input})
	if !ok || tc == "" {
		return nil
	}
	return h.Note(ctx, tc, rec.Updated)
}

// Allow implements the pipeline's Gate: it rejects ISEE CORRENTE and
// Rettifica ISEE for a tax code without a completed ISEE.
func (h *History) Allow(ctx context.Context, svc *schema.Service, p *schema.Prepared) ([]schema.Problem, error) {
	if !needsPrior(svc.Name) {
		return nil, nil
	}
	field := taxCodeField(svc)
	tc, ok := svc.TaxCode(p)
	if ok && tc != "" {
		has, err := h.Has(ctx, tc)
		if err != nil || has {
			return nil, err
		}
	}
	return []schema.Problem{{Field: field.Key, Name: field.Name, Code: dlq.ReasonPriorISEE,
		Message: svc.Name + " can only be requested for a tax code with an ISEE request completed through iseed: submit an ordinary ISEE first (operators: ISEED_PRIOR_ISEE_RULE=false turns this rule off for accounts with history outside iseed)"}}, nil
}

func taxCodeField(svc *schema.Service) schema.Field {
	for _, f := range svc.Fields {
		if f.Type == "codice_fiscale_persona_fisica" {
			return f
		}
	}
	return schema.Field{}
}
