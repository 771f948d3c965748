package consumer_test

import (
	"context"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/nats-io/nats.go/jetstream"
)

func TestFileReferencesStayInTheTenantsBucket(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, bucket := range []string{"iseed_files_acme", "iseed_files_other"} {
		os, err := h.nats.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.PutBytes(ctx, "7781/carta.pdf", []byte("%PDF-1.4 carta")); err != nil {
			t.Fatal(err)
		}
	}
	h.start()
	own := validFields("Mario")
	own["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_acme/7781/carta.pdf"
	h.publish(submission("files-own", own), nil)
	h.waitState("files-own", consumer.StateSubmitted)

	theirs := validFields("Mario")
	theirs["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_other/7781/carta.pdf"
	h.publish(submission("files-theirs", theirs), nil)
	r := h.waitState("files-theirs", consumer.StateRejected)
	if len(r.Errors) != 1 || r.Errors[0].Code != "invalid_file_reference" || !strings.Contains(r.Errors[0].Message, "iseed_files_other") {
		t.Errorf("problems: got %+v, want one invalid_file_reference", r.Errors)
	}
	if got := h.counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (the other tenant's file was never sent)", got)
	}
}
