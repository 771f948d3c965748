package consumer_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
)

// TestUnusableSchemaRejects: a service whose published schema cannot be
// used (here PHP's empty structure, "json_struttura": []) is refused by
// the schema cache with a *schema.SchemaError. The submission was retried
// as if the upstream were down until it expired, days later, with nothing
// to say why; retrying does not change the schema. It is rejected now,
// with the unusable_service problem naming what is wrong, dead-lettered
// invalid (replayable once the upstream publishes a usable schema), and
// nothing is sent.
func TestUnusableSchemaRejects(t *testing.T) {
	t.Parallel()
	const hash = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/visure" {
			_, _ = w.Write([]byte(`{"data":[{"nome_visura":"Servizio","nome_categoria":"Patronato","hash_visura":"` + hash + `"}],"success":true,"message":"","error":null}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"nome_visura":"Servizio","nome_categoria":"Patronato","hash_visura":"` + hash + `",` +
			`"json_struttura":[],"ricerca":false,"prezzo_visura":12,"prezzo_ricerca":0,"sincrona":false,"opzioni":false},` +
			`"success":true,"message":"","error":null}`))
	}))
	t.Cleanup(upstream.Close)
	base, err := url.Parse(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	client, err := visengine.New(visengine.Config{BaseURL: base, Token: "token", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	h.Start(pipetest.WithSchemas(schema.NewCache(client, h.Res.Schemas, schema.CacheConfig{Logger: zerolog.Nop()})))
	h.Publish([]byte(`{"id":"emp-unusable","service":"Servizio","fields":{}}`), nil)

	r := h.WaitState("emp-unusable", record.StateRejected)
	if len(r.Errors) != 1 || r.Errors[0].Code != "unusable_service" || r.Errors[0].Field != "service" ||
		!strings.Contains(r.Errors[0].Message, hash) || !strings.Contains(r.Errors[0].Message, "campi") {
		t.Errorf("problems: got %+v, want one unusable_service on service naming the hash and campi", r.Errors)
	}
	pipetest.WaitFor(t, 5*time.Second, "the dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	if got, want := h.DeadLetters()[0].Reason, dlq.ReasonInvalid; got != want {
		t.Errorf("dead letter reason: got %q, want %q", got, want)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}
