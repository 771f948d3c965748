package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine"
	"golang.org/x/time/rate"
)

// tracking is what `iseed serve` adds to follow requests: the tracker, the
// prior-ISEE history and, with a public URL, the callback endpoint.
type tracking struct {
	res       *consumer.TrackingResources
	tracker   *consumer.RequestTracker
	history   *consumer.History
	callbacks *consumer.Callbacks
}

// buildTracking makes the tracking components. limiter is the pipeline's:
// polls and submissions share the upstream rate limit.
func (d *daemon) buildTracking(ctx context.Context, schemas consumer.Schemas, limiter *rate.Limiter) (*tracking, error) {
	l := d.res.Layout
	res, err := consumer.EnsureTracking(ctx, d.js, l, consumer.TrackingOptions{AckWait: d.cfg.TrackAckWait, DocumentTTL: d.cfg.DocumentTTL})
	if err != nil {
		return nil, err
	}
	t := &tracking{res: res}
	sealer, err := loadSealer(d.cfg.DocumentKeyFile)
	if err != nil {
		return nil, err
	}
	taxKey, err := loadKey(ctx, res, d.cfg.TaxcodeKeyFile, "ISEED_TAXCODE_KEY_FILE", "taxcode-hmac")
	if err != nil {
		return nil, err
	}
	if t.history, err = consumer.NewHistory(res.History, taxKey, schemas); err != nil {
		return nil, err
	}
	schedule, _ := parseSchedule(d.cfg.PollSchedule) // validated at start
	t.tracker, err = consumer.NewRequestTracker(consumer.TrackerConfig{
		Workers: d.cfg.TrackWorkers, Schedule: schedule, OverdueAfter: d.cfg.OverdueAfter, MaxAge: d.cfg.TrackMaxAge,
		ShutdownTimeout: d.cfg.ShutdownTimeout, Sealer: sealer, Logger: d.log,
	}, consumer.TrackerDeps{
		Resources: d.res, Tracking: res, Upstream: d.upstream, Events: publisher.New(d.js, publisher.Config{Prefix: l.Prefix}),
		Publisher: d.js, Limiter: limiter, History: t.history, Metrics: d.pm,
	})
	if err != nil {
		return nil, err
	}
	public := d.publicURL()
	if public == "" {
		return t, nil
	}
	cbKey, err := loadKey(ctx, res, d.cfg.CallbackKeyFile, "ISEED_CALLBACK_KEY_FILE", "callback-hmac")
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(public) // ISEED_PUBLIC_URL was validated at start
	if err != nil {
		return nil, err
	}
	t.callbacks, err = consumer.NewCallbacks(consumer.CallbackConfig{PublicURL: u, Key: cbKey,
		Parallel: d.cfg.TrackWorkers, Logger: d.log}, t.tracker)
	return t, err
}

// gate is the pipeline's Gate: the prior-ISEE rule, unless switched off.
func (t *tracking) gate(on bool) consumer.Gate {
	if !on {
		return nil
	}
	return t.history
}

// callback is the pipeline's Config.Callback: nil without a public URL.
func (t *tracking) callback() func(tenant, id string) *visengine.CallbackData {
	if t.callbacks == nil {
		return nil
	}
	return t.callbacks.Data
}

// loadSealer reads the document key; no file means documents are stored in clear.
func loadSealer(path string) (*consumer.Sealer, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ISEED_DOCUMENT_KEY_FILE: %w", err)
	}
	key, err := consumer.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("ISEED_DOCUMENT_KEY_FILE %s: %w", path, err)
	}
	return consumer.NewSealer(key)
}

// loadKey reads an HMAC key from its file, or, without one, from the keys
// bucket, generated there the first time.
func loadKey(ctx context.Context, res *consumer.TrackingResources, path, variable, name string) ([]byte, error) {
	if path == "" {
		return consumer.LoadOrCreateKey(ctx, res.Keys, name, 32)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", variable, err)
	}
	key, err := consumer.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", variable, path, err)
	}
	return key, nil
}

// parseSchedule reads ISEED_POLL_SCHEDULE: durations separated by commas,
// e.g. "1m,5m,15m,1h"; the last repeats.
func parseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for part := range strings.SplitSeq(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("ISEED_POLL_SCHEDULE must be positive durations separated by commas such as 1m,5m,15m,1h, got %q", s)
		}
		out = append(out, d)
	}
	return out, nil
}

// validateTracking checks the tracking variables, saying what to change.
func (c *Config) validateTracking() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if _, err := parseSchedule(c.PollSchedule); err != nil {
		errs = append(errs, err)
	}
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("ISEED_PUBLIC_URL must be the http(s) URL at which the upstream reaches iseed, such as https://iseed.example.com, got %q", c.PublicURL)
		}
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
