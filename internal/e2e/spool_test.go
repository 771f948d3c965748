package e2e_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// sweepingUpstream serves a fulfilled request whose document, halfway
// through its download, finds the spool directory swept: it counts the
// spooled files it finds there by name and removes them, as iseed's sweep
// of ISEED_DATA_DIR/tmp does.
type sweepingUpstream struct {
	dir   string
	named atomic.Int32
}

func (u *sweepingUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	return &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateFulfilled}, nil
}

func (u *sweepingUpstream) Documento(_ context.Context, id string, w io.Writer) (*visengine.Document, error) {
	const first, rest = "%PDF-1.4 ", "attestazione ISEE"
	n, err := io.WriteString(w, first)
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(u.dir, tracking.SpoolPattern))
	u.named.Add(int32(len(files)))
	for _, f := range files {
		_ = os.Remove(f)
	}
	m, err := io.WriteString(w, rest)
	return &visengine.Document{Nome: id + ".pdf", Dimensione: int64(n + m), Written: int64(n + m)}, err
}

// A document being downloaded has no name in the spool directory (a
// process killed then leaves nothing there in clear), and a sweep during
// the download does not disturb it: it is stored whole.
func TestSpooledDocumentHasNoName(t *testing.T) {
	h := newTrackHarness(t, fastTracking(time.Hour))
	up := &sweepingUpstream{dir: t.TempDir()}
	tr, err := tracking.New(tracking.Config{TempDir: up.dir, Logger: zerolog.Nop()},
		tracking.Deps{Resources: h.Res, Upstream: up,
			Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h.PutRecord("emp-spool", pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.State, r.RequestID, r.StatoRichiesta, r.Pending = record.StateInProgress, "req-spool", visengine.StateInProgress, nil
		r.Created, r.Updated = now, now
		r.Timeline = []record.Transition{{State: record.StateSubmitted, At: now}, {State: record.StateInProgress, At: now}}
	})
	ctx := context.Background()
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-spool"); err != nil {
		t.Fatal(err)
	}
	if n := up.named.Load(); n != 0 {
		t.Errorf("during the download: got %d spooled file(s) with a name, want none", n)
	}
	var got bytes.Buffer
	if _, err := tracking.FetchDocument(ctx, h.NATS.JS, h.Res, pipetest.Tenant, "emp-spool", nil, &got); err != nil {
		t.Fatalf("the stored document: %v", err)
	}
	if got.String() != "%PDF-1.4 attestazione ISEE" {
		t.Errorf("stored document: got %q, want the whole download", got.String())
	}
	if left, _ := filepath.Glob(filepath.Join(up.dir, "*")); len(left) != 0 {
		t.Errorf("after the download: got %q in the spool directory, want nothing", left)
	}
}
