package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/nats-io/nats.go/jetstream"
)

// namesDown cannot resolve a service by the name a payload gives ("ISEE"),
// as while the catalog is unreachable; the hash a record keeps resolves
// (cached). Every delivery then ends in a retry before its record is read,
// so that the message exhausts its deliveries without adopting the id its
// record keeps.
type namesDown struct{ consumer.Schemas }

func (s namesDown) Service(ctx context.Context, nameOrHash string) (*schema.Service, error) {
	if nameOrHash == "ISEE" {
		return nil, errors.New("schema store unreachable")
	}
	return s.Schemas.Service(ctx, nameOrHash)
}

// indexRefusingOnce refuses the first write to the request index when armed.
type indexRefusingOnce struct {
	jetstream.KeyValue
	fault
}

func (i *indexRefusingOnce) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if i.take() {
		return 0, errors.New("nats: no response from stream")
	}
	return i.KeyValue.Create(ctx, key, value, opts...)
}

// TestMaxDeliveriesAdoptsAKeptId: a claimed submission whose record keeps
// the id an earlier POST got back (the request index refused it) exhausts
// its deliveries. The request exists and was paid: the advisory adopts it
// as a delivery would (read upstream, indexed, recorded, announced,
// tracked, entered in the ledger), sends nothing and dead-letters nothing.
// An id the upstream does not know ends as a delivery ends it: failed
// ambiguous, the id still kept, one dead letter. An index write refused
// once is retried in the advisory's handling (indexKnown), which has no
// message of its own to keep in progress.
func TestMaxDeliveriesAdoptsAKeptId(t *testing.T) {
	for _, tc := range []struct {
		name          string
		known, refuse bool
	}{{"known upstream", true, false}, {"unknown upstream", false, false}, {"index refused once", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.withMaxDeliver(2)
			const gone = "5f2829ce065afc21cc6000ff"
			known, id := tc.known, gone
			if known {
				id = keptAnswer(t, h, "emp-kept")
			} else {
				past := time.Now().Add(-time.Minute)
				h.PutRecord("emp-kept", pipetest.ValidFields("Mario"), func(rec *record.Record) {
					rec.Service, rec.Created, rec.Updated = "ISEE", past, past
					rec.Pending = &record.Attempt{Started: past, Owner: "gone", Until: past.Add(time.Second), Answered: gone}
				})
			}
			tr := &trackerRefusingOnce{}
			idx := &indexRefusingOnce{KeyValue: h.Res.Requests}
			idx.armed.Store(tc.refuse)
			res := *h.Res
			res.Requests = idx
			h.Start(pipetest.WithSchemas(namesDown{h.Schemas()}), pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }),
				pipetest.WithDeps(func(d *consumer.Deps) { d.Tracker, d.Ledger, d.Resources = tr, h.ledger(), &res }))
			h.Publish(pipetest.Submission("emp-kept", pipetest.ValidFields("Mario")), nil)
			pipetest.WaitExplained(t, 20*time.Second, "the advisory handled", h.advisoriesSettled, func() string {
				r := h.Record("emp-kept")
				return fmt.Sprintf("record %s (%s); dead letters %d", r.State, r.Reason, len(h.DeadLetters()))
			})
			if tc.refuse && !idx.fired.Load() {
				t.Fatal("the index never refused a write")
			}
			r, dls := h.Record("emp-kept"), h.DeadLetters()
			want := 0
			if known {
				want = 1 // keptAnswer's, which created the request
			}
			if got := h.Counter("POST /richiesta"); got != want {
				t.Errorf("POSTs: got %d, want %d", got, want)
			}
			es, err := h.ledger().Entries(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), pipetest.Tenant)
			if err != nil {
				t.Fatal(err)
			}
			if !known {
				if r.State != record.StateFailed || r.Reason != dlq.ReasonAmbiguous || r.Answered() != gone {
					t.Errorf("record: got %s/%s, kept %q, want failed/ambiguous, %s kept", r.State, r.Reason, r.Answered(), gone)
				}
				if len(dls) != 1 || dls[0].Reason != dlq.ReasonAmbiguous {
					t.Errorf("dead letters: got %+v, want one, ambiguous", dls)
				}
				if len(es) != 0 {
					t.Errorf("ledger entries: got %+v, want none", es)
				}
				return
			}
			if r.State != record.StateSubmitted || r.RequestID != id {
				t.Fatalf("record: got %s/%s, request %q, want submitted with %s", r.State, r.Reason, r.RequestID, id)
			}
			if len(dls) != 0 {
				t.Errorf("dead letters: got %+v, want none", dls)
			}
			if len(es) != 1 || es[0].RequestID != id {
				t.Errorf("ledger entries: got %+v, want one for %s", es, id)
			}
			if ids := tr.ids(); !slices.Contains(ids, id) {
				t.Errorf("tracked requests: got %v, want %s", ids, id)
			}
			if types := h.EventTypes("emp-kept"); count(types, publisher.StatusType(record.StateSubmitted)) != 1 {
				t.Errorf("events: got %v, want one %s", types, publisher.StatusType(record.StateSubmitted))
			}
		})
	}
}
