package e2e_test

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// namedDocument serves one document under the file name the upstream
// chose, which may name the person.
type namedDocument struct {
	*visengine.Client
	body []byte
	nome string
}

func (c namedDocument) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	n, err := w.Write(c.body)
	return &visengine.Document{Nome: c.nome, Dimensione: int64(len(c.body)), Written: int64(n)}, err
}

// TestAFailedDocumentLookupLogsNoFileName: the upstream's file name of a
// document may name the person ("DSU.<tax code>.pdf"); it is the last part
// of the object name. When reading the object store fails while a document
// is stored (here the first look for the object is lost on its way to the
// server), the poll's warning must say which submission, never quote the
// object's file name.
func TestAFailedDocumentLookupLogsNoFileName(t *testing.T) {
	t.Parallel() // its own server, proxy, simulator and tracker; it waits out a lost lookup
	const taxCode = "RSSMRA80A01H501U"
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	bucket := h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant)
	proxy := natstest.NewDropProxy(t, h.NATS.Server.Addr().String())
	var dropped atomic.Bool
	proxy.Drop = func(subject string) bool {
		lookup := strings.HasPrefix(subject, "$JS.API.DIRECT.GET.OBJ_"+bucket) || strings.HasPrefix(subject, "$JS.API.STREAM.MSG.GET.OBJ_"+bucket)
		return lookup && dropped.CompareAndSwap(false, true)
	}
	nc, js := natstest.Connect(t, proxy.URL)
	t.Cleanup(nc.Close)
	var logs pipetest.Buffer
	tr, err := tracking.New(tracking.Config{Workers: 4, Schedule: []time.Duration{30 * time.Millisecond}, TempDir: t.TempDir(),
		Logger: zerolog.New(io.MultiWriter(&logs, zerolog.NewTestWriter(t))).Level(zerolog.WarnLevel)},
		tracking.Deps{Resources: h.Res, Upstream: namedDocument{h.Client, []byte("%PDF-1.4 attestazione ISEE"), "DSU." + taxCode + ".pdf"},
			Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: js})
	if err != nil {
		t.Fatal(err)
	}
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-named", pipetest.ValidFields("Mario")), nil)
	r := h.waitClosed("emp-named", 30*time.Second)
	if !dropped.Load() {
		t.Fatal("no look for the document was lost: the test proves nothing")
	}
	if r.Document == nil || !strings.HasSuffix(r.Document.Object, taxCode+".pdf") {
		t.Fatalf("stored document: got %+v, want it stored under the upstream's name", r.Document)
	}
	if !strings.Contains(logs.String(), `"submission":"emp-named"`) {
		t.Fatalf("log: %q; want the failed poll's warning", logs.String())
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, taxCode) {
			t.Errorf("log line quotes the document's file name: got %q, want the submission named instead", line)
		}
	}
}
