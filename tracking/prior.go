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
	"unicode"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/nats-io/nats.go/jetstream"
)

// The prior-ISEE rule. The provider accepts a current ISEE (ISEE CORRENTE)
// and a rectification (Rettifica ISEE) only from someone who already made an
// ISEE request through it. History remembers, per tenant and person, that
// an ISEE request iseed sent completed; its Allow is the pipeline's Gate and
// rejects a service that needs a prior ISEE without one, with the code
// prior_isee_required, before anything is sent or charged.
//
// Per tenant, not per account. The upstream's rule is per Openapi account,
// so a person with an ISEE through another tenant of the same deployment
// would be accepted upstream; iseed asks for an ordinary ISEE through this
// tenant first. That is the conservative choice: an account-wide history
// would tell tenant B, by accepting or refusing, whether tenant A's
// employee completed an ISEE. The gate also answers only when the input has
// no other problem, so that it cannot be used to probe with bad input.
//
// Persons are never stored: a record carries PersonKey, and the history's
// KV key is the same value: HMAC-SHA256(key, tenant, upper-cased tax code)
// in hex. Read access to the records or the bucket alone reveals nothing,
// and a guess cannot be checked without the key. The tax code is the one
// iseed sent (the service's codice_fiscale_persona_fisica field), so the
// rule does not depend on the upstream echoing the input.

// Services says which services need a prior ISEE and which count as one.
// Each entry is a hash_visura (matched exactly) or a name, matched against
// catalog names with case, punctuation and spacing ignored, as a word
// sequence anywhere in the name ("ISEE CORRENTE" matches "ISEE Corrente
// 2025").
type Services struct {
	NeedPrior []string // default "ISEE CORRENTE", "RETTIFICA ISEE", "ISEE RETTIFICA"
	CountAs   []string // default "ISEE"
}

// DefaultServices is the default matching.
func DefaultServices() Services {
	return Services{NeedPrior: []string{"ISEE CORRENTE", "RETTIFICA ISEE", "ISEE RETTIFICA"}, CountAs: []string{"ISEE"}}
}

func (s Services) needsPrior(svc *schema.Service) bool {
	return matches(s.NeedPrior, svc.Name, svc.Hash)
}
func (s Services) countsAs(name, hash string) bool { return matches(s.CountAs, name, hash) }

// matches reports whether a service is named by one of the entries.
func matches(entries []string, name, hash string) bool {
	n := " " + normalize(name) + " "
	for _, e := range entries {
		if e == hash && hash != "" {
			return true
		}
		if w := normalize(e); w != "" && strings.Contains(n, " "+w+" ") {
			return true
		}
	}
	return false
}

// normalize upper-cases s and reduces every run of non-alphanumerics to one space.
func normalize(s string) string {
	return strings.Join(strings.FieldsFunc(strings.ToUpper(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}), " ")
}

// History is the keyed-hash record of persons with a completed ISEE, per tenant.
type History struct {
	kv       jetstream.KeyValue
	key      []byte
	services Services
	leader   jetstream.JetStream // nil: absence is the direct get's word
}

// NewHistory returns a History over the history bucket kv. key (at least
// 16 bytes) keys the person hashes. Before it takes a person for one
// without a completed ISEE it asks the bucket's leader, through leader: a
// KV get is a direct get, which any replica answers, and one that lags (a
// node restarted and catching up) says "no such key" for an entry the
// leader has; on its word a valid ISEE CORRENTE was rejected
// prior_isee_required. A nil leader takes the direct get's word (a History
// that only hashes tax codes, for iseed erase).
func NewHistory(kv jetstream.KeyValue, leader jetstream.JetStream, key []byte, services Services) (*History, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("tax-code key: got %d bytes, want at least 16", len(key))
	}
	if len(services.NeedPrior) == 0 && len(services.CountAs) == 0 {
		services = DefaultServices()
	}
	return &History{kv: kv, leader: leader, key: key, services: services}, nil
}

// PersonKey returns the keyed hash of the person a prepared submission is
// about, for tenant: "" when the service has no personal tax code field.
// It implements the pipeline's Gate.
func (h *History) PersonKey(tenant string, svc *schema.Service, p *schema.Prepared) string {
	tc, ok := svc.TaxCode(p)
	if !ok || tc == "" {
		return ""
	}
	return h.TaxCodeKey(tenant, tc)
}

// TaxCodeKey returns the keyed hash of the person with tax code tc, for
// tenant: the key of their history entry, and a record's PersonKey (iseed
// erase finds the entry of a tax code an operator gives it).
func (h *History) TaxCodeKey(tenant, tc string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(tenant + "\x00" + strings.ToUpper(strings.TrimSpace(tc))))
	return hex.EncodeToString(m.Sum(nil))
}

// has reports whether a person (by PersonKey) has a completed ISEE.
func (h *History) has(ctx context.Context, person string) (bool, error) {
	_, err := h.kv.Get(ctx, person)
	if errors.Is(err, jetstream.ErrKeyNotFound) && h.leader != nil {
		_, ok, lerr := record.LeaderGet(ctx, h.leader, h.kv.Bucket(), person)
		if lerr != nil {
			return false, fmt.Errorf("isee history: %w", lerr)
		}
		return ok, nil
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("isee history: %w", err)
	}
	return true, nil
}

// note records that a person (by PersonKey) completed an ISEE at at.
func (h *History) note(ctx context.Context, person string, at time.Time) error {
	v, _ := json.Marshal(struct {
		Completed time.Time `json:"completed"`
	}{at.UTC()})
	if _, err := h.kv.Put(ctx, person, v); err != nil {
		return fmt.Errorf("isee history: %w", err)
	}
	return nil
}

// NoteCompleted records a completed request's person when its service
// counts as an ISEE. It does nothing for other services or records without
// a person key.
func (h *History) NoteCompleted(ctx context.Context, rec *record.Record) error {
	if rec.PersonKey == "" || !h.services.countsAs(rec.Service, rec.ServiceHash) {
		return nil
	}
	return h.note(ctx, rec.PersonKey, rec.Updated)
}

// Allow implements the pipeline's Gate: it refuses a service that needs a
// prior ISEE for a person without one through this tenant. The pipeline
// asks only when the input has no other problem.
func (h *History) Allow(ctx context.Context, tenant string, svc *schema.Service, p *schema.Prepared) ([]schema.Problem, error) {
	if !h.services.needsPrior(svc) {
		return nil, nil
	}
	field := taxCodeField(svc)
	if person := h.PersonKey(tenant, svc, p); person != "" {
		has, err := h.has(ctx, person)
		if err != nil || has {
			return nil, err
		}
	}
	return []schema.Problem{{Field: field.Key, Name: field.Name, Code: dlq.ReasonPriorISEE,
		Message: svc.Name + " can only be requested for a person with an ISEE request completed through this tenant: submit an ordinary ISEE first (operators: ISEED_PRIOR_ISEE_RULE=false turns this rule off)"}}, nil
}

func taxCodeField(svc *schema.Service) schema.Field {
	for _, f := range svc.Fields {
		if f.Type == "codice_fiscale_persona_fisica" {
			return f
		}
	}
	return schema.Field{}
}
