package main

import (
	"context"
	"os"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	natsserver "github.com/nats-io/nats-server/v2/test"
)

// TestWorkersFollowTheBudgetAndMaxPayload: with ISEED_WORKERS 0 (the
// default) a replica runs a worker for each 1.6 s of the upstream budget
// (ISEED_UPSTREAM_RPS; no limit: 128) and no more than hold 128 MiB of the
// largest submissions the server accepts, between 16 and 128 workers, and
// sizes the submissions consumer's MaxAckPending (4 × workers) to them; a
// number set is kept as it is.
func TestWorkersFollowTheBudgetAndMaxPayload(t *testing.T) {
	for _, c := range []struct {
		name       string
		maxPayload int32
		rps        string
		setting    string
		workers    int
	}{
		{"the default budget of 10 calls/s", 1 << 20, "", "", 16},
		{"no budget, NATS's default of 1 MiB", 1 << 20, "0", "", 128},
		{"50 calls/s", 1 << 20, "50", "", 80},
		{"a budget of 200 calls/s, 2 MiB", 2 << 20, "200", "", 64},
		{"no budget, the shipped 8 MiB", 8 << 20, "0", "", 16},
		{"no budget, the most NATS takes, 64 MiB", 64 << 20, "0", "", 16},
		{"a small budget, the least iseed takes, 256 KiB", 256 << 10, "2.5", "", 16},
		{"a number set", 1 << 20, "0", "24", 24},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := natsserver.DefaultTestOptions
			opts.Port = -1
			opts.JetStream = true
			opts.StoreDir = t.TempDir()
			opts.MaxPayload = c.maxPayload
			s := natstest.RunWithOptions(t, &opts)
			t.Setenv("ISEED_NATS_URL", s.ClientURL())
			t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_DATA_DIR", t.TempDir())
			for k, v := range map[string]string{"ISEED_WORKERS": c.setting, "ISEED_UPSTREAM_RPS": c.rps} {
				t.Setenv(k, v) // restored after the test
				if v == "" {
					os.Unsetenv(k)
				}
			}
			cfg, err := loadConfig()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			d, err := newDaemon(ctx, cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer d.close()
			if cfg.Workers != c.workers {
				t.Errorf("workers %d, want %d", cfg.Workers, c.workers)
			}
			info, err := d.res.Consumer.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := max(64, 4*c.workers); info.Config.MaxAckPending != want {
				t.Errorf("the submissions consumer's MaxAckPending is %d, want %d", info.Config.MaxAckPending, want)
			}
		})
	}
}
