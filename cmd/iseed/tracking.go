package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/keys"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
)

// trackingParts is what `iseed serve` adds to follow requests: the tracker,
// the prior-ISEE history and, with a public URL, the callback endpoint.
type trackingParts struct {
	tracker   *tracking.Tracker
	history   *tracking.History
	callbacks *tracking.Callbacks
}

// buildTracking makes the tracking components. limiter is the pipeline's:
// polls and submissions share the upstream rate limit.
func (d *daemon) buildTracking(ctx context.Context, limiter tracking.Limiter, replayKey []byte) (*trackingParts, error) {
	t := &trackingParts{}
	keyring, err := loadKeyring(d.cfg)
	if err != nil {
		return nil, err
	}
	taxKey, err := d.loadKey(ctx, d.cfg.TaxcodeKeyFile, "ISEED_TAXCODE_KEY_FILE", "taxcode-hmac")
	if err != nil {
		return nil, err
	}
	if t.history, err = tracking.NewHistory(d.res.History, taxKey,
		tracking.Services{NeedPrior: d.cfg.PriorServices, CountAs: d.cfg.ISEEServices}); err != nil {
		return nil, err
	}
	t.tracker, err = tracking.New(tracking.Config{
		Workers: d.cfg.TrackWorkers, Schedule: d.cfg.PollSchedule, OverdueAfter: d.cfg.OverdueAfter, MaxAge: d.cfg.TrackMaxAge,
		ShutdownTimeout: d.cfg.ShutdownTimeout, Keyring: keyring, ReplayKey: replayKey, Logger: d.log, Now: d.clock.Now,
	}, tracking.Deps{
		Resources: d.res, Upstream: d.upstream, Events: publisher.New(d.js, publisher.Config{Prefix: d.res.Layout.Prefix}),
		Publisher: d.js, Limiter: limiter, History: t.history, Metrics: tracking.NewMetrics(d.metrics),
	})
	if err != nil {
		return nil, err
	}
	public := d.publicURL()
	if public == nil {
		return t, nil
	}
	cbKey, err := d.loadKey(ctx, d.cfg.CallbackKeyFile, "ISEED_CALLBACK_KEY_FILE", "callback-hmac")
	if err != nil {
		return nil, err
	}
	t.callbacks, err = tracking.NewCallbacks(tracking.CallbackConfig{PublicURL: public, Key: cbKey,
		Parallel: d.cfg.TrackWorkers, Logger: d.log}, t.tracker)
	return t, err
}

// gate is the pipeline's Gate: the prior-ISEE rule, unless switched off.
func (t *trackingParts) gate(on bool) consumer.Gate {
	if !on {
		return nil
	}
	return t.history
}

// callback is the pipeline's Config.Callback: nil without a public URL.
func (t *trackingParts) callback() func(tenant, id string) *visengine.CallbackData {
	if t.callbacks == nil {
		return nil
	}
	return t.callbacks.Data
}

// loadKeyring reads the document keys: the recipients new documents are
// sealed to (default and per tenant), and what opens them (age identities,
// and the legacy key of documents stored before age). Nil when none is
// configured: documents are stored in clear.
func loadKeyring(cfg *Config) (*seal.Keyring, error) {
	f := seal.Files{Identity: cfg.DocIdentityFile, Recipients: cfg.DocRecipients,
		TenantRecipients: cfg.DocTenantDir, LegacyKey: cfg.DocumentKeyFile}
	if f == (seal.Files{}) {
		return nil, nil
	}
	kr, err := seal.Load(f)
	if err != nil {
		return nil, fmt.Errorf("document keys (ISEED_DOCUMENT_*): %w", err)
	}
	return kr, nil
}

// replayKeyName names the replay-signing key in the keys bucket.
const replayKeyName = "replay-hmac"

// loadKey reads an HMAC key from its file, or, without one, from the keys
// bucket, generated there the first time (retried like the layout: a fresh
// cluster may not answer at once).
func (d *daemon) loadKey(ctx context.Context, path, variable, name string) ([]byte, error) {
	if path == "" {
		return retryStartup(ctx, d.log, "key "+name, func(ctx context.Context) ([]byte, error) {
			return keys.LoadOrCreate(ctx, d.res.Keys, name, 32)
		})
	}
	return readKeyFile(path, variable)
}

// readKeyFile reads a key file named by variable.
func readKeyFile(path, variable string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", variable, err)
	}
	key, err := keys.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", variable, path, err)
	}
	return key, nil
}

// validateTracking checks the tracking variables, saying what to change.
func (c *Config) validateTracking() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.PollSchedule) == 0 {
		bad("ISEED_POLL_SCHEDULE must name at least one delay, such as 1m,5m,15m,1h")
	}
	if c.TrackWorkers < 1 || c.TrackWorkers > 1024 {
		bad("ISEED_TRACK_WORKERS must be between 1 and 1024, got %d", c.TrackWorkers)
	}
	if c.TrackAckWait < time.Second {
		bad("ISEED_TRACK_ACK_WAIT must be at least 1s, got %s", c.TrackAckWait)
	}
	if c.OverdueAfter <= 0 || c.TrackMaxAge <= c.OverdueAfter {
		bad("ISEED_TRACK_MAX_AGE (%s) must be longer than ISEED_OVERDUE_AFTER (%s), both positive", c.TrackMaxAge, c.OverdueAfter)
	}
	if c.DocumentTTL <= 0 {
		bad("ISEED_DOCUMENT_TTL must be positive, got %s", c.DocumentTTL)
	}
	return errs
}
