package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
)

// TestLateCommitIsNeverPaidTwice: the upstream loses the POST's answer and
// shows the request only later (a slow write), on the published profile
// (nothing echoed). Reading too soon and trusting "none" would pay twice;
// iseed keeps reading until the attempt has settled and adopts the request
// when it shows. Scaled: a commit 2 s late against a settle time of 4 s
// stands for the production defaults (a commit up to 15 minutes late
// against ISEED_RECONCILE_SETTLE=15m); before this procedure the settle
// time was 10 s, scaled here to 300 ms, and the test paid twice.
func TestLateCommitIsNeverPaidTwice(t *testing.T) {
	t.Parallel()
	h := &harness{pipetest.NewWithSim(t, sim.Config{Step: time.Hour, Wallet: 1e7, Profile: sim.ProfilePublished,
		Faults: sim.Faults{LateCommit: sim.LateCommit{Mode: sim.ModeBadGateway, Delay: 2 * time.Second, Next: 1}}}, 2*time.Second)}
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.ReconcileSettle = 4 * time.Second }))
	h.Publish(pipetest.Submission("emp-late", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-late", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POSTs: got %d, want 1", got)
	}
	if r.RequestID == "" || r.EnteredAt(record.StateSubmitted).IsZero() {
		t.Errorf("record: %+v, want the late request adopted", r)
	}
}

// TestLargeEchoIsNotAmbiguous: an upstream that echoes every input whole,
// files included, answers a POST carrying a 9 MB file with an answer far
// over the client's kept-bytes limit; the request is still recognised as
// created and charged once, not lost.
func TestLargeEchoIsNotAmbiguous(t *testing.T) {
	// Not in parallel: heavy enough to starve the others (and be starved) on two cores.
	l := pipetest.DefaultLayout()
	l.AckWait = time.Minute // a lease long enough to send 9 MB on a loaded machine
	h := &harness{pipetest.NewWithLayout(t, sim.Config{Step: time.Hour, Wallet: 1e7, Profile: sim.ProfilePublished, Echo: sim.EchoFiles}, 30*time.Second, l)}
	ctx := context.Background()
	files, err := h.NATS.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: h.Res.Layout.FilesBucket(pipetest.Tenant)})
	if err != nil {
		t.Fatal(err)
	}
	scan := make([]byte, 9<<20)
	copy(scan, "%PDF-1.4\n")
	if _, err := files.PutBytes(ctx, "7781/scan.pdf", scan); err != nil {
		t.Fatal(err)
	}
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.CallTimeout = 30 * time.Second }))
	f := pipetest.ValidFields("Mario")
	f["Copia documento d'identità"] = "scan.pdf|nats-os://" + h.Res.Layout.FilesBucket(pipetest.Tenant) + "/7781/scan.pdf"
	h.Publish(pipetest.Submission("emp-big", f), nil)
	var r *record.Record
	pipetest.WaitFor(t, time.Minute, "emp-big to be submitted", func() bool {
		r = h.Record("emp-big")
		return r != nil && r.State == record.StateSubmitted
	})
	if got := h.Counter("created"); got != 1 || r.Attempts != 1 {
		t.Errorf("upstream requests: got %d (attempts %d), want 1", got, r.Attempts)
	}
}

// listedTwice is an upstream whose list of requests shows each one twice,
// as a list made by a join might.
type listedTwice struct{ consumer.Upstream }

func (u listedTwice) Richieste(ctx context.Context) ([]visengine.RichiestaSummary, error) {
	list, err := u.Upstream.Richieste(ctx)
	return append(list, list...), err
}

// TestRequestListedTwiceIsOneRequest: the POST's answer is lost, and the
// upstream's list shows the request it made twice. Reconciliation adopts
// it: one request, however often it is listed, not two carrying the
// submission's marker (a dead letter, ambiguous, left to a person).
func TestRequestListedTwiceIsOneRequest(t *testing.T) {
	t.Parallel()
	h := &harness{pipetest.NewWithSim(t, sim.Config{Step: time.Hour, Wallet: 1e7,
		Faults: sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: sim.ModeBadGateway, Next: 1}}}, 2*time.Second)}
	h.Start(pipetest.WithUpstream(listedTwice{h.Client}), pipetest.WithConfig(func(c *consumer.Config) { c.ReconcileSettle = time.Second }))
	h.Publish(pipetest.Submission("emp-twice", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-twice", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
	if r.RequestID == "" {
		t.Errorf("record: %+v, want the request adopted", r)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: %+v; want none", dls)
	}
}
