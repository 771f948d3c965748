package consumer_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// newPricedHarness is a harness whose simulator publishes the ISEE at
// price, or with no prezzo_visura (null) when unpublished; it charges
// price all the same.
func newPricedHarness(t *testing.T, price float64, unpublished bool) *harness {
	t.Helper()
	cat := sim.DefaultCatalog()
	for i := range cat {
		if cat[i].Hash == sim.HashISEE {
			cat[i].Price, cat[i].PriceUnpublished = price, unpublished
		}
	}
	return &harness{pipetest.NewWithSim(t, sim.Config{Step: time.Hour, Wallet: 1e7, Catalog: cat}, 2*time.Second)}
}

// ledgerEntryOf waits for the ledger's entry of submission id.
func (h *harness) ledgerEntryOf(id string) ledger.Entry {
	h.T.Helper()
	var got ledger.Entry
	pipetest.WaitFor(h.T, 10*time.Second, "the ledger's entry of "+id, func() bool {
		es, err := h.ledger().Entries(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "")
		for _, e := range es {
			if e.SubmissionID == id {
				got = e
			}
		}
		return err == nil && got.SubmissionID == id
	})
	return got
}

// decided waits until submission id is held or submitted, and says
// which, with the POSTs the simulator has had.
func (h *harness) decided(id string) *record.Record {
	h.T.Helper()
	var r *record.Record
	pipetest.WaitFor(h.T, 20*time.Second, id+" held or submitted", func() bool {
		r = h.Record(id)
		return r != nil && (r.State == record.StateHeld || r.State == record.StateSubmitted)
	})
	if r.State != record.StateHeld {
		h.T.Fatalf("%s: state %s after %d POST /richiesta, want held and none sent", id, r.State, h.Counter("POST /richiesta"))
	}
	return r
}

// TestUnknownPriceIsHeldUnderAEuroCap: a service whose schema publishes no
// prezzo_visura reserved €0, so that no euro cap ever bound it while the
// upstream charged its price. Under a euro cap it is held, nothing sent,
// its held event naming the unknown price; removing the euro cap lets it
// go, and the ledger records what the answer says it cost.
func TestUnknownPriceIsHeldUnderAEuroCap(t *testing.T) {
	t.Parallel()
	h := newPricedHarness(t, 12, true)
	ctx := context.Background()
	b := h.budgetsCapped(budget.Caps{DailyEUR: 100_000}) // €1,000: room for any price
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))

	h.Publish(pipetest.Submission("unpriced", pipetest.ValidFields("Mario")), nil)
	r := h.decided("unpriced")
	if len(r.Errors) != 1 || r.Errors[0].Code != "unknown_price" || !strings.Contains(r.Errors[0].Message, "price") {
		t.Errorf("held with problems %+v, want one unknown_price naming the price", r.Errors)
	}
	if strings.Contains(r.Errors[0].Message, "Mario") || strings.Contains(r.Errors[0].Message, "RSSMRA") {
		t.Errorf("held message %q carries personal data", r.Errors[0].Message)
	}
	h.WaitLastEvent("unpriced", "iseed.submission.held")
	evs := h.Events("unpriced")
	var st publisher.Status
	if err := json.Unmarshal(evs[len(evs)-1].Data, &st); err != nil {
		t.Fatal(err)
	}
	if st.Reason != "budget" || len(st.Errors) != 1 || st.Errors[0].Code != "unknown_price" {
		t.Errorf("held event: reason %q, errors %+v; want budget, unknown_price", st.Reason, st.Errors)
	}
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Fatalf("POST /richiesta: got %d, want none while a euro cap applies to an unknown price", got)
	}

	// A request cap alone does not bind an unknown price: the euro cap
	// removed (the operator's way to let it through), it goes.
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 10}); err != nil {
		t.Fatal(err)
	}
	r = h.WaitState("unpriced", record.StateSubmitted)
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta after the euro cap was removed: got %d, want 1", got)
	}
	if e := h.ledgerEntryOf("unpriced"); e.ServicePrice != 1200 || e.Price != 1600 {
		t.Errorf("ledger: service price %s, price %s; want the answer's 12.00 and 16.00 with the urgency", e.ServicePrice, e.Price)
	}
	if r.Charge == nil || r.Charge.Total != 1600 {
		t.Errorf("record's charge %+v, want 16.00", r.Charge)
	}
}

// TestUnknownPriceUnderTheAccountsEuroCap: the account's euro cap binds an
// unknown price as the tenant's does, and its held message names no
// amount of the account's.
func TestUnknownPriceUnderTheAccountsEuroCap(t *testing.T) {
	t.Parallel()
	h := newPricedHarness(t, 12, true)
	ctx := context.Background()
	b := h.budgets()
	if err := b.Set(ctx, budget.Account(), budget.Caps{MonthlyEUR: 100_000}); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
	h.Publish(pipetest.Submission("unpriced", pipetest.ValidFields("Mario")), nil)
	r := h.decided("unpriced")
	if len(r.Errors) != 1 || r.Errors[0].Code != "unknown_price" || strings.Contains(r.Errors[0].Message, "1000") {
		t.Errorf("held with problems %+v, want one unknown_price naming no amount", r.Errors)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Fatalf("POST /richiesta: got %d, want none", got)
	}
	if err := b.Delete(ctx, budget.Account()); err != nil {
		t.Fatal(err)
	}
	h.WaitState("unpriced", record.StateSubmitted)
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta after the account's cap was removed: got %d, want 1", got)
	}
}

// TestUnknownPriceGoesWithoutEuroCap: with no euro cap (a request cap
// only), a service whose price is unknown is sent as before, and the
// ledger records the answer's price.
func TestUnknownPriceGoesWithoutEuroCap(t *testing.T) {
	t.Parallel()
	h := newPricedHarness(t, 12, true)
	b := h.budgetsCapped(budget.Caps{DailyRequests: 10})
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
	h.Publish(pipetest.Submission("unpriced", pipetest.ValidFields("Mario")), nil)
	h.WaitState("unpriced", record.StateSubmitted)
	if e := h.ledgerEntryOf("unpriced"); e.ServicePrice != 1200 || e.Price != 1600 {
		t.Errorf("ledger: service price %s, price %s; want the answer's 12.00 and 16.00 with the urgency", e.ServicePrice, e.Price)
	}
	day, _, err := b.Usage(context.Background(), budget.Tenant(pipetest.Tenant), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if day.Requests != 1 {
		t.Errorf("requests counted: got %d, want 1: the request cap binds", day.Requests)
	}
}

// TestFreeServiceGoesUnderAEuroCap: a prezzo_visura of 0, published, is
// free, not unknown: it goes under a euro cap (its urgency option, €4,
// fits the €10 cap).
func TestFreeServiceGoesUnderAEuroCap(t *testing.T) {
	t.Parallel()
	h := newPricedHarness(t, 0, false)
	b := h.budgetsCapped(budget.Caps{DailyEUR: 1000})
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
	h.Publish(pipetest.Submission("free", pipetest.ValidFields("Mario")), nil)
	h.WaitState("free", record.StateSubmitted)
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta: got %d, want 1", got)
	}
}

// TestUnknownPriceHoldDoesNotStopItsTenant: a submission held for its
// unknown price waits for no room, only for the euro caps to go: the
// tenant's later submissions of a priced service, held behind it (queued),
// go as the caps allow, and it stays held.
func TestUnknownPriceHoldDoesNotStopItsTenant(t *testing.T) {
	t.Parallel()
	h := newPricedHarness(t, 12, true)
	b := h.budgetsCapped(budget.Caps{DailyEUR: 100_000})
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("unpriced", pipetest.ValidFields("Mario")), nil)
	h.decided("unpriced")
	priced, err := json.Marshal(map[string]any{"id": "priced", "service": "ISEE CORRENTE", "fields": pipetest.ValidFields("Maria")})
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(priced, nil)
	h.WaitState("priced", record.StateSubmitted)
	if r := h.Record("unpriced"); r.State != record.StateHeld {
		t.Errorf("unpriced: state %s, want still held", r.State)
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta: got %d, want 1, the priced one", got)
	}
}

// flippingSchemas answers from before until priced is set, then from after.
type flippingSchemas struct {
	before, after consumer.Schemas
	priced        *atomic.Bool
}

func (f flippingSchemas) Service(ctx context.Context, nameOrHash string) (*schema.Service, error) {
	if f.priced.Load() {
		return f.after.Service(ctx, nameOrHash)
	}
	return f.before.Service(ctx, nameOrHash)
}

// TestUnknownPriceHoldGoesOnceTheServiceIsPriced: a submission held for its
// unknown price goes by itself once its schema publishes a price that the
// euro cap has room for, counted at that price.
func TestUnknownPriceHoldGoesOnceTheServiceIsPriced(t *testing.T) {
	t.Parallel()
	h := newPricedHarness(t, 12, true)
	priced := sim.New(sim.Config{Token: pipetest.SimToken}) // the same ISEE, its price published
	srv := httptest.NewServer(priced)
	t.Cleanup(func() { priced.Close(); srv.Close() })
	u, _ := url.Parse(srv.URL)
	client, err := visengine.New(visengine.Config{BaseURL: u, Token: pipetest.SimToken, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	flip := flippingSchemas{before: h.Schemas(), after: schema.NewCache(client, nil, schema.CacheConfig{}), priced: new(atomic.Bool)}
	b := h.budgetsCapped(budget.Caps{DailyEUR: 100_000})
	h.Start(h.withMoney(b), pipetest.WithSchemas(flip), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("unpriced", pipetest.ValidFields("Mario")), nil)
	h.decided("unpriced")
	flip.priced.Store(true)
	h.WaitState("unpriced", record.StateSubmitted)
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta: got %d, want 1", got)
	}
	day, _, err := b.Usage(context.Background(), budget.Tenant(pipetest.Tenant), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if day.Spent != 1600 {
		t.Errorf("counted against the euro cap: %s, want the published price with the urgency, 16.00", day.Spent)
	}
}

// newUnpricedOptionHarness is a harness whose simulator publishes the ISEE
// at €12 and its urgency option without prezzo (null); a request that
// chooses it is charged its €4 all the same.
func newUnpricedOptionHarness(t *testing.T) *harness {
	t.Helper()
	cat := sim.DefaultCatalog()
	for i := range cat {
		if cat[i].Hash == sim.HashISEE {
			cat[i].Price = 12
			cat[i].Options = []sim.Option{{Type: "urgenza", Price: 4, Name: "opzione_0", PriceUnpublished: true}}
		}
	}
	return &harness{pipetest.NewWithSim(t, sim.Config{Step: time.Hour, Wallet: 1e7, Catalog: cat}, 2*time.Second)}
}

// TestUnknownOptionPriceIsHeldUnderAEuroCap: an option published without
// prezzo decoded as €0, so that a submission choosing it reserved less than
// the upstream charges, and a euro cap never counted the option. Chosen,
// it makes the submission's price unknown: under a euro cap it is held as
// one of a service without prezzo_visura, nothing sent. A submission of
// the same service that does not choose it has a known price and goes
// (queued behind the held one, then released while that one stays held,
// held once). Removing the euro cap lets the held one go.
func TestUnknownOptionPriceIsHeldUnderAEuroCap(t *testing.T) {
	t.Parallel()
	h := newUnpricedOptionHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(budget.Caps{DailyEUR: 100_000}) // €1,000: room for any price
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))

	h.Publish(pipetest.Submission("chosen", pipetest.ValidFields("Mario")), nil) // with the urgency
	r := h.decided("chosen")
	if len(r.Errors) != 1 || r.Errors[0].Code != "unknown_price" {
		t.Errorf("held with problems %+v, want one unknown_price", r.Errors)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Fatalf("POST /richiesta: got %d, want none while a euro cap applies to an unknown price", got)
	}

	plain, err := json.Marshal(map[string]any{"id": "plain", "service": "ISEE", "fields": pipetest.ValidFields("Maria")})
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(plain, nil)
	h.WaitState("plain", record.StateSubmitted)
	if r := h.Record("chosen"); r.State != record.StateHeld {
		t.Errorf("chosen: state %s, want still held", r.State)
	}
	h.WaitLastEvent("chosen", "iseed.submission.held") // stored after the record decided waited for (consumer/handle.go, finish)
	held := 0
	for _, ev := range h.Events("chosen") {
		if ev.Type == "iseed.submission.held" {
			held++
		}
	}
	if held != 1 {
		t.Errorf("chosen: %d held events, want 1: the holds pass must not release it to be held again", held)
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta: got %d, want 1, the one without the option", got)
	}
	day, _, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if day.Spent != 1200 {
		t.Errorf("counted against the euro cap: %s, want 12.00, the one without the option", day.Spent)
	}

	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 10}); err != nil {
		t.Fatal(err)
	}
	r = h.WaitState("chosen", record.StateSubmitted)
	if got := h.Counter("POST /richiesta"); got != 2 {
		t.Errorf("POST /richiesta after the euro cap was removed: got %d, want 2", got)
	}
	// The schema has no price for the option; the answer has.
	if e := h.ledgerEntryOf("chosen"); e.ServicePrice != 1200 || e.Price != 1600 || len(e.Options) != 1 || e.Options[0].Price != 400 {
		t.Errorf("ledger: service price %s, price %s, options %+v; want 12.00, 16.00 with the urgency's 4.00 the answer says", e.ServicePrice, e.Price, e.Options)
	}
	if r.Charge == nil || r.Charge.Total != 1600 {
		t.Errorf("record's charge %+v, want 16.00", r.Charge)
	}
}
