package consumer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

func TestFileReferencesStayInTheTenantsBucket(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	for _, bucket := range []string{"iseed_files_acme", "iseed_files_other"} {
		os, err := h.NATS.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.PutBytes(ctx, "7781/carta.pdf", []byte("%PDF-1.4 carta")); err != nil {
			t.Fatal(err)
		}
	}
	h.Start()
	own := pipetest.ValidFields("Mario")
	own["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_acme/7781/carta.pdf"
	h.Publish(pipetest.Submission("files-own", own), nil)
	h.WaitState("files-own", record.StateSubmitted)

	theirs := pipetest.ValidFields("Mario")
	theirs["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_other/7781/carta.pdf"
	h.Publish(pipetest.Submission("files-theirs", theirs), nil)
	r := h.WaitState("files-theirs", record.StateRejected)
	if len(r.Errors) != 1 || r.Errors[0].Code != "invalid_file_reference" || !strings.Contains(r.Errors[0].Message, "iseed_files_other") {
		t.Errorf("problems: got %+v, want one invalid_file_reference", r.Errors)
	}
	// The object is there: the message must say what is wrong (the bucket is not the
	// tenant's, and which one is), not that there is no such object.
	if msg := r.Errors[0].Message; !strings.Contains(msg, "not this tenant's") || !strings.Contains(msg, "iseed_files_acme") || strings.Contains(msg, "no object") {
		t.Errorf("message: got %q, want it to say the bucket is not this tenant's and name iseed_files_acme", msg)
	}
	if r.Attempts != 0 {
		t.Errorf("attempts of a submission rejected before any POST: got %d, want 0", r.Attempts)
	}
	if r := h.Record("files-own"); r.Attempts != 1 {
		t.Errorf("attempts of a submission posted once: got %d, want 1", r.Attempts)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (the other tenant's file was never sent)", got)
	}
}
