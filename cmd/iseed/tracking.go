package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/keys"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/workpool"
)

// trackingParts is what `iseed serve` adds to follow requests: the tracker,
// the prior-ISEE history and, with a public URL, the callback endpoint.
type trackingParts struct {
	tracker   *tracking.Tracker
	history   *tracking.History
	callbacks *tracking.Callbacks
	spool     spool // where documents download, swept while iseed runs
}

// buildTracking makes the tracking components. limiter is the pipeline's:
// polls and submissions share the upstream rate limit.
func (d *daemon) buildTracking(ctx context.Context, limiter tracking.Limiter, replayKey []byte) (*trackingParts, error) {
	t := &trackingParts{}
	keyring, err := loadKeyring(d.cfg)
	if err != nil {
		return nil, err
	}
	taxKey, err := d.loadKey(ctx, d.cfg.TaxcodeKeyFile, "ISEED_TAXCODE_KEY_FILE", taxCodeKeyName)
	if err != nil {
		return nil, err
	}
	if t.history, err = tracking.NewHistory(d.res.History, d.js, taxKey,
		tracking.Services{NeedPrior: d.cfg.PriorServices, CountAs: d.cfg.ISEEServices}); err != nil {
		return nil, err
	}
	public := d.publicURL()
	schedule := d.cfg.PollSchedule
	if len(schedule) == 0 && d.sim != nil {
		// The built-in simulator finishes a request in two ISEED_SIM_STEPs,
		// not in working days.
		schedule = Schedule{d.cfg.SimStep}
	}
	if t.spool, err = downloadDir(d.cfg.DataDir); err != nil {
		return nil, err
	}
	metrics := tracking.NewMetrics(d.metrics)
	t.tracker, err = tracking.New(tracking.Config{TempDir: t.spool.dir,
		Workers: d.cfg.TrackWorkers, MaxRetryAfter: d.cfg.RetryMaxDelay, Polling: d.cfg.polling(public != nil), Schedule: schedule,
		OverdueWorkdays: d.cfg.OverdueWorkdays, MaxAge: d.cfg.TrackMaxAge, Timebase: d.cfg.TrackClock.Timebase,
		ShutdownTimeout: d.cfg.ShutdownTimeout, Keyring: keyring, ReplayKey: replayKey, Logger: d.log, Now: d.clock.Now,
	}, tracking.Deps{
		Resources: d.res, Upstream: d.upstream, Events: publisher.New(d.js, publisher.Config{Prefix: d.res.Layout.Prefix, EventsStream: d.res.Layout.EventsStream()}),
		Publisher: d.js, Limiter: limiter, History: t.history, Metrics: metrics,
	})
	if err != nil {
		return nil, err
	}
	if public == nil {
		return t, nil
	}
	cbKey, err := d.loadKey(ctx, d.cfg.CallbackKeyFile, "ISEED_CALLBACK_KEY_FILE", "callback-hmac")
	if err != nil {
		return nil, err
	}
	t.callbacks, err = tracking.NewCallbacks(tracking.CallbackConfig{PublicURL: public, Key: cbKey,
		Parallel: d.cfg.TrackWorkers, Logger: d.log, Metrics: metrics}, t.tracker)
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

// downloadDir is where documents are spooled while they download:
// <ISEED_DATA_DIR>/tmp, never the system's temporary directory, which a
// read-only root filesystem (the shipped Deployment and compose file)
// leaves unwritable. A document spooled there is in clear: whatever a
// killed process left is removed at once (spool.sweep), whatever its age.
func downloadDir(dataDir string) (spool, error) {
	dir := filepath.Join(dataDir, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return spool{}, fmt.Errorf("documents' download directory: %w", err)
	}
	s := spool{dir: dir, every: spoolSweep}
	s.sweep()
	return s, nil
}

// spoolSweep is how often the spool directory is swept while iseed runs:
// the bound, stated in README.md, on how long a document spooled by a
// process killed mid-download (beside this one, sharing the directory)
// stays there.
const spoolSweep = time.Minute

// spool is the directory documents are spooled to.
type spool struct {
	dir   string
	every time.Duration
}

// sweep removes every spooled document in the directory. It may remove
// one that a download here or in another live process is writing: that
// download reads and writes only the *os.File it holds (tracking.Tracker's
// download never opens it by name), and an unlinked file lives until
// its last descriptor is closed.
func (s spool) sweep() {
	files, _ := filepath.Glob(filepath.Join(s.dir, tracking.SpoolPattern))
	for _, f := range files {
		_ = os.Remove(f) // gone already, or the next sweep's
	}
}

// Run sweeps the directory every s.every until ctx is done.
func (s spool) Run(ctx context.Context) error { return every(ctx, s.every, s.sweep) }

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

// replayKeyIDName names, in the keys bucket, the id (dlq.KeyID) of the key
// the daemon verifies replays with, whether from its file or the bucket.
const replayKeyIDName = "replay-hmac-id"

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
	if c.TrackWorkers < 1 || c.TrackWorkers > 1024 {
		bad("ISEED_TRACK_WORKERS must be between 1 and 1024, got %d", c.TrackWorkers)
	}
	if c.TrackAckWait < workpool.MinAckWait {
		// Held work is kept in progress often enough for it, whatever
		// AckWait another replica set (workpool.Pace).
		bad("ISEED_TRACK_ACK_WAIT must be at least %s, got %s", workpool.MinAckWait, c.TrackAckWait)
	}
	if c.OverdueAfter != "" {
		bad("ISEED_OVERDUE_AFTER is replaced by ISEED_OVERDUE_WORKDAYS, in working days on the Italian calendar (default 15): unset it")
	}
	if c.OverdueWorkdays < 1 || c.TrackMaxAge <= tracking.WorkingDays(float64(c.OverdueWorkdays)) {
		bad("ISEED_TRACK_MAX_AGE (%s) must be longer than ISEED_OVERDUE_WORKDAYS (%d) days, which must be at least 1", c.TrackMaxAge, c.OverdueWorkdays)
	}
	before := len(errs) // the ISEED_POLL_* problems below, each said once
	if c.PollWindowPolls < 1 || c.PollWindowPolls > 1000 {
		bad("ISEED_POLL_WINDOW_POLLS must be between 1 and 1000, got %d", c.PollWindowPolls)
	}
	if c.PollMin <= 0 || c.PollMax < c.PollMin {
		bad("ISEED_POLL_MAX (%s) must not be shorter than ISEED_POLL_MIN (%s), which must be positive", c.PollMax, c.PollMin)
	}
	if !(c.PollJitter >= 0 && c.PollJitter < 1) {
		bad("ISEED_POLL_JITTER must be a share from 0 (none) to below 1, such as 0.2, got %g", c.PollJitter)
	}
	if !(c.PollStretch >= 1) {
		bad("ISEED_POLL_CALLBACK_STRETCH must be at least 1 (no stretch), got %g", c.PollStretch)
	}
	// The schedule's own check only when nothing above was refused: it
	// would say the same again, in its words.
	if len(errs) == before {
		if err := c.polling(true).Validate(); err != nil {
			bad("ISEED_POLL_*: %v", err)
		}
	}
	if c.DocumentTTL <= 0 {
		bad("ISEED_DOCUMENT_TTL must be positive, got %s", c.DocumentTTL)
	}
	return errs
}

// polling is the poll schedule the variables configure.
func (c *Config) polling(callbacks bool) tracking.Polling {
	jitter := c.PollJitter
	if jitter == 0 {
		jitter = -1 // tracking.Polling reads 0 as its default
	}
	return tracking.Polling{Expect: c.PollExpect, Polls: c.PollWindowPolls, Min: c.PollMin, Sparse: c.PollMax,
		Jitter: jitter, Stretch: c.PollStretch, Callbacks: callbacks}
}

// overdueSpan is the calendar time that ISEED_OVERDUE_WORKDAYS spans on
// average (five working days a week), for the overview's count of
// requests open too long; the tracker counts on the calendar itself.
func (c *Config) overdueSpan() time.Duration {
	return time.Duration(c.OverdueWorkdays) * 7 * 24 * time.Hour / 5
}

// Expectations is ISEED_POLL_EXPECT: when each service's requests are
// expected to reach Dati disponibili and Visura evasa, in working days
// since the submission, and by when nearly all are done. Entries are
// separated by semicolons:
//
//	SERVICES=READY_FROM-READY_TO/DONE_FROM-DONE_TO/LATE
//
// SERVICES are names (matched as word sequences, case and punctuation
// ignored) or hash_visura values separated by "|", or "*" for every
// other service; numbers are working days, decimals allowed. The first
// entry that names a service applies. Example: "ISEE=0-1/4-5/15;*=0-1/1-5/15".
type Expectations []tracking.Expectation

// Decode implements envconfig.Decoder.
func (e *Expectations) Decode(v string) error {
	var out Expectations
	for entry := range strings.SplitSeq(v, ";") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		x, err := parseExpectation(entry)
		if err != nil {
			return fmt.Errorf("%w (want entries such as ISEE=0-1/4-5/15, separated by ;)", err)
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		return errors.New("want at least one entry such as ISEE=0-1/4-5/15")
	}
	*e = out
	return nil
}

func parseExpectation(entry string) (tracking.Expectation, error) {
	var x tracking.Expectation
	names, spans, ok := strings.Cut(entry, "=")
	parts := strings.Split(spans, "/")
	if !ok || len(parts) != 3 {
		return x, fmt.Errorf("%q is not SERVICES=READY/DONE/LATE", entry)
	}
	for n := range strings.SplitSeq(names, "|") {
		if n = strings.TrimSpace(n); n != "" {
			x.Services = append(x.Services, n)
		}
	}
	var err error
	if x.Ready, err = parseWindow(parts[0]); err == nil {
		if x.Done, err = parseWindow(parts[1]); err == nil {
			x.Late, err = parseWorkdays(parts[2])
		}
	}
	if err == nil {
		err = x.Check()
	}
	if err != nil {
		return x, fmt.Errorf("%q: %w", entry, err)
	}
	return x, nil
}

func parseWindow(s string) (tracking.Window, error) {
	from, to, ok := strings.Cut(s, "-")
	if !ok {
		return tracking.Window{}, fmt.Errorf("%q is not a window FROM-TO", s)
	}
	f, err := parseWorkdays(from)
	if err != nil {
		return tracking.Window{}, err
	}
	t, err := parseWorkdays(to)
	return tracking.Window{From: f, To: t}, err
}

func parseWorkdays(s string) (time.Duration, error) {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n < 0 || n > 366 || math.IsNaN(n) {
		return 0, fmt.Errorf("%q is not a number of working days", s)
	}
	return tracking.WorkingDays(n), nil
}

// TrackClock is ISEED_TRACK_CLOCK, for benchmarks only: the tracker's
// schedule runs on an accelerated clock shared with a simulator,
// "SCALE,SIM,REAL[,THEN,SWITCH]": at the real instant REAL (RFC 3339) the
// clock reads SIM (RFC 3339) and runs SCALE times faster, and from the
// real instant SWITCH on THEN times faster. Unset: real time.
type TrackClock struct{ tracking.Timebase }

// Decode implements envconfig.Decoder.
func (c *TrackClock) Decode(v string) error {
	parts := strings.Split(v, ",")
	if len(parts) != 3 && len(parts) != 5 {
		return fmt.Errorf("want SCALE,SIM,REAL[,THEN,SWITCH] such as 500,2026-01-12T08:00:00+01:00,2026-11-30T14:00:00Z, got %q", v)
	}
	var tb tracking.Timebase
	var err error
	if tb.Scale, err = parseScale(parts[0]); err != nil {
		return err
	}
	if tb.Sim, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(parts[1])); err != nil {
		return fmt.Errorf("the simulated start: %w", err)
	}
	if tb.Real, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(parts[2])); err != nil {
		return fmt.Errorf("the real start: %w", err)
	}
	if len(parts) == 5 {
		if tb.Then, err = parseScale(parts[3]); err != nil {
			return err
		}
		if tb.Switch, err = time.Parse(time.RFC3339Nano, strings.TrimSpace(parts[4])); err != nil {
			return fmt.Errorf("the switch: %w", err)
		}
		if !tb.Switch.After(tb.Real) {
			return fmt.Errorf("the switch (%s) must come after the real start (%s)", parts[4], parts[2])
		}
	}
	c.Timebase = tb
	return nil
}

func parseScale(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || !(f >= 1) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("a scale must be a number of at least 1, got %q", s)
	}
	return f, nil
}
