package main

import (
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	natsserver "github.com/nats-io/nats-server/v2/test"
)

// TestServeRefusesASmallMaxPayload: on a NATS server whose max_payload is
// under what iseed needs (a document is stored in 128 KiB chunks, one
// message each), every document would fail to store, and be fetched again
// from the upstream every minute, two calls from the shared budget each
// time, until the request's maximum age. serve refuses to start instead,
// naming the limit, and creates nothing.
func TestServeRefusesASmallMaxPayload(t *testing.T) {
	opts := natsserver.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	opts.MaxPayload = 64 << 10
	s := natstest.RunWithOptions(t, &opts)
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_NATS_URL", s.ClientURL())
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	start := time.Now()
	_, errOut, code := runCLIFor(t, 20*time.Second, "serve")
	if took := time.Since(start); code != 2 || took > 10*time.Second || !strings.Contains(errOut, "max_payload is 65536 bytes") ||
		!strings.Contains(errOut, "at least 262144") {
		t.Errorf("exit %d after %s, stderr %q; want 2 at once, naming max_payload and the least iseed needs", code, took, errOut)
	}
	if names := s.JS.StreamNames(t.Context()); names.Err() == nil {
		for n := range names.Name() {
			t.Errorf("serve created stream %s before refusing", n)
		}
	}
}
