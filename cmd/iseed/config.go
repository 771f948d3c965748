package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/kelseyhightower/envconfig"
	"github.com/rs/zerolog"
)

// Config is iseed's whole configuration, read once from ISEED_* variables.
// README.md documents every field.
type Config struct {
	DataDir            string `envconfig:"DATA_DIR" default:"./iseed-data"`
	NATSURL            string `envconfig:"NATS_URL"`
	EmbeddedNATSListen string `envconfig:"EMBEDDED_NATS_LISTEN" default:"127.0.0.1:4222"`
	NATSCredsFile      string `envconfig:"NATS_CREDS_FILE"`
	NATSNKeyFile       string `envconfig:"NATS_NKEY_FILE"`
	NATSUser           string `envconfig:"NATS_USER"`
	NATSPassword       string `envconfig:"NATS_PASSWORD"`
	NATSToken          string `envconfig:"NATS_TOKEN"`
	NATSTLSCA          string `envconfig:"NATS_TLS_CA"`
	NATSTLSCert        string `envconfig:"NATS_TLS_CERT"`
	NATSTLSKey         string `envconfig:"NATS_TLS_KEY"`
	// AcceptNewRecords is the creation time of a records stream that is
	// gone, as serve's refusal names it: one start on a new bucket.
	AcceptNewRecords string `envconfig:"ACCEPT_NEW_RECORDS"`

	VisengineURL       URL           `envconfig:"VISENGINE_URL"`
	VisengineToken     string        `envconfig:"VISENGINE_TOKEN"`
	VisengineTokenFile string        `envconfig:"VISENGINE_TOKEN_FILE"`
	VisengineTimeout   time.Duration `envconfig:"VISENGINE_TIMEOUT" default:"30s"`
	// VisengineMaxList bounds GET /richiesta, the account's whole list of
	// requests (no paging), which reconciliation and the audit read.
	VisengineMaxList int64         `envconfig:"VISENGINE_MAX_LIST_BYTES" default:"134217728"`
	SimStep          time.Duration `envconfig:"SIM_STEP" default:"2s"`
	SimCallbacks     bool          `envconfig:"SIM_CALLBACKS" default:"true"`
	SimProfile       sim.Profile   `envconfig:"SIM_PROFILE" default:"friendly"`
	SimEcho          sim.Echo      `envconfig:"SIM_ECHO"`

	SubjectPrefix   string        `envconfig:"SUBJECT_PREFIX" default:"iseed"`
	Replicas        int           `envconfig:"REPLICAS" default:"1"`
	Storage         string        `envconfig:"STORAGE" default:"file"`
	Workers         int           `envconfig:"WORKERS" default:"0"` // 0: autoWorkers, once the server's max_payload is known
	AckWait         time.Duration `envconfig:"ACK_WAIT" default:"60s"`
	MaxDeliver      int           `envconfig:"MAX_DELIVER" default:"1000"`
	MaxAge          time.Duration `envconfig:"MAX_AGE" default:"72h"`
	RetryMaxDelay   time.Duration `envconfig:"RETRY_MAX_DELAY" default:"10m"`
	ReconcileSettle time.Duration `envconfig:"RECONCILE_SETTLE" default:"15m"`
	AdoptGrace      time.Duration `envconfig:"ADOPT_GRACE"` // 0: 3 × ACK_WAIT
	TrustMarker     bool          `envconfig:"RECONCILE_TRUST_MARKER" default:"false"`
	DedupWindow     time.Duration `envconfig:"DEDUP_WINDOW" default:"24h"`
	StreamRetention time.Duration `envconfig:"RETENTION" default:"720h"`      // of the submissions and events streams
	DLQRetention    time.Duration `envconfig:"DLQ_RETENTION" default:"2160h"` // of the dead letters and the advisories
	TenantMaxSubs   int64         `envconfig:"TENANT_MAX_SUBMISSIONS" default:"0"`
	UpstreamRPS     float64       `envconfig:"UPSTREAM_RPS" default:"10"`
	UpstreamBurst   int           `envconfig:"UPSTREAM_BURST" default:"10"`
	UpstreamReserve int           `envconfig:"UPSTREAM_RESERVE" default:"2"`
	BreakerFailures int           `envconfig:"BREAKER_FAILURES" default:"5"`
	BreakerCooldown time.Duration `envconfig:"BREAKER_COOLDOWN" default:"15s"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s"`
	SchemaTTL       time.Duration `envconfig:"SCHEMA_TTL" default:"24h"`
	MaxFileBytes    int64         `envconfig:"MAX_FILE_BYTES" default:"10485760"`

	TrackWorkers    int           `envconfig:"TRACK_WORKERS" default:"4"`
	TrackAckWait    time.Duration `envconfig:"TRACK_ACK_WAIT" default:"2m"`
	PollExpect      Expectations  `envconfig:"POLL_EXPECT" default:"ISEE=0-1/4-5/15;*=0-1/1-5/15"`
	PollWindowPolls int           `envconfig:"POLL_WINDOW_POLLS" default:"4"`
	PollMin         time.Duration `envconfig:"POLL_MIN" default:"15m"`
	PollMax         time.Duration `envconfig:"POLL_MAX" default:"24h"`
	PollJitter      float64       `envconfig:"POLL_JITTER" default:"0.2"`
	PollStretch     float64       `envconfig:"POLL_CALLBACK_STRETCH" default:"4"`
	PollSchedule    Schedule      `envconfig:"POLL_SCHEDULE"` // a fixed schedule instead: tests and demos
	PublicURL       URL           `envconfig:"PUBLIC_URL"`
	OverdueWorkdays int           `envconfig:"OVERDUE_WORKDAYS" default:"15"`
	OverdueAfter    string        `envconfig:"OVERDUE_AFTER"` // replaced by OVERDUE_WORKDAYS: refused when set
	TrackMaxAge     time.Duration `envconfig:"TRACK_MAX_AGE" default:"1440h"`
	TrackClock      TrackClock    `envconfig:"TRACK_CLOCK"` // an accelerated clock for benchmarks
	DocumentTTL     time.Duration `envconfig:"DOCUMENT_TTL" default:"720h"`
	FilesMaxAge     time.Duration `envconfig:"FILES_MAX_AGE" default:"720h"` // of the files buckets tenant init makes
	RecordScrub     Retention     `envconfig:"RECORD_SCRUB_AFTER" default:"2400h"`
	DocumentKeyFile string        `envconfig:"DOCUMENT_KEY_FILE"`
	DocRecipients   string        `envconfig:"DOCUMENT_RECIPIENTS_FILE"`
	DocTenantDir    string        `envconfig:"DOCUMENT_TENANT_RECIPIENTS_DIR"`
	DocIdentityFile string        `envconfig:"DOCUMENT_IDENTITY_FILE"`
	PriorISEERule   bool          `envconfig:"PRIOR_ISEE_RULE" default:"true"`
	PriorServices   []string      `envconfig:"PRIOR_ISEE_SERVICES" default:"ISEE CORRENTE,RETTIFICA ISEE,ISEE RETTIFICA"`
	ISEEServices    []string      `envconfig:"ISEE_SERVICES" default:"ISEE"`
	TaxcodeKeyFile  string        `envconfig:"TAXCODE_KEY_FILE"`
	CallbackKeyFile string        `envconfig:"CALLBACK_KEY_FILE"`
	ReplayKeyFile   string        `envconfig:"REPLAY_KEY_FILE"`

	SpendingCaps      bool          `envconfig:"SPENDING_CAPS" default:"true"`
	BudgetsFile       string        `envconfig:"BUDGETS_FILE"`
	AuditEvery        time.Duration `envconfig:"AUDIT_EVERY" default:"1h"`
	AccountURL        URL           `envconfig:"OPENAPI_ACCOUNT_URL"`
	AccountEmail      string        `envconfig:"OPENAPI_ACCOUNT_EMAIL"`
	AccountAPIKey     string        `envconfig:"OPENAPI_ACCOUNT_API_KEY"`
	AccountAPIKeyFile string        `envconfig:"OPENAPI_ACCOUNT_API_KEY_FILE"`
	WalletWarnEUR     float64       `envconfig:"WALLET_WARN_EUR" default:"100"`
	WalletProbe       time.Duration `envconfig:"WALLET_PROBE" default:"1m"`
	WithdrawWait      time.Duration `envconfig:"WITHDRAW_WAIT" default:"1m"`
	ConsoleToken      string        `envconfig:"CONSOLE_TOKEN"`
	ConsoleHosts      []string      `envconfig:"CONSOLE_HOSTS"`
	ConsoleProxies    []string      `envconfig:"CONSOLE_TRUSTED_PROXIES"`

	HTTPListen     string `envconfig:"HTTP_LISTEN" default:"127.0.0.1:8080"`
	CallbackListen string `envconfig:"CALLBACK_LISTEN" default:"127.0.0.1:8081"`
	LogLevel       string `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat      string `envconfig:"LOG_FORMAT" default:"json"`

	// dayZone is where the days and months of the spending caps and of the
	// spend end; nil: Europe/Rome. No variable sets it: tests do, so that a
	// test counting against a daily cap does not straddle midnight.
	dayZone *time.Location
	// overviewRefresh is how often the overview takes the snapshot its
	// gauges report; 0: overview's default, 15s. No variable sets it:
	// tests do, so that a test reading a gauge waits for a condition, not
	// for the next quarter of a minute.
	overviewRefresh time.Duration
}

// loadConfig reads the environment and validates it. It reports every
// variable that does not parse, with the problems that do not depend on
// one of those.
func loadConfig() (*Config, error) {
	var c Config
	unparsed, errs := c.process()
	if err := c.resolveSecrets(); err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	if len(errs) == 0 {
		return &c, c.validate()
	}
	for _, p := range c.problems() {
		if !namesAny(p.Error(), unparsed) {
			errs = append(errs, p)
		}
	}
	return nil, errors.Join(errs...)
}

// process reads the environment into c one field at a time, so that a
// variable that does not parse hides none of the others (envconfig.Process
// stops at the first). It returns the variables that did not parse, whose
// fields stay zero, and their errors.
func (c *Config) process() (unparsed []string, errs []error) {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue // envconfig skips these too
		}
		one := reflect.New(reflect.StructOf([]reflect.StructField{{Name: f.Name, Type: f.Type, Tag: f.Tag}}))
		err := envconfig.Process("iseed", one.Interface())
		var pe *envconfig.ParseError
		switch {
		case errors.As(err, &pe):
			unparsed = append(unparsed, pe.KeyName)
			errs = append(errs, fmt.Errorf("configuration: %s: %w", pe.KeyName, pe.Err))
		case err != nil:
			errs = append(errs, fmt.Errorf("configuration: %w", err))
		default:
			v.Field(i).Set(one.Elem().Field(0))
		}
	}
	return unparsed, errs
}

// namesAny reports whether a problem names one of the variables, itself or
// by a family such as ISEED_POLL_*: every problem names what it depends on.
func namesAny(problem string, variables []string) bool {
	words := strings.FieldsFunc(problem, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '*')
	})
	for _, w := range words {
		if !strings.HasPrefix(w, "ISEED_") {
			continue
		}
		family, isFamily := strings.CutSuffix(w, "*")
		for _, v := range variables {
			if v == w || isFamily && strings.HasPrefix(v, family) {
				return true
			}
		}
	}
	return false
}

func (c *Config) resolveSecrets() error {
	return errors.Join(secretFile(&c.VisengineToken, c.VisengineTokenFile, "ISEED_VISENGINE_TOKEN"),
		secretFile(&c.AccountAPIKey, c.AccountAPIKeyFile, "ISEED_OPENAPI_ACCOUNT_API_KEY"))
}

// secretFile reads the secret variable_FILE names into v, unless none is
// named; both set is an error.
func secretFile(v *string, path, variable string) error {
	if path == "" {
		return nil
	}
	if *v != "" {
		return fmt.Errorf("configuration: set %s or %s_FILE, not both", variable, variable)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("configuration: %s_FILE: %w", variable, err)
	}
	*v = strings.TrimSpace(string(b))
	if *v == "" {
		return fmt.Errorf("configuration: %s_FILE %s is empty", variable, path)
	}
	return nil
}

// validate checks the configuration, saying what to change.
func (c *Config) validate() error { return errors.Join(c.problems()...) }

// problems lists what is wrong with the configuration, each problem naming
// the variables it depends on and saying what to change.
func (c *Config) problems() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.VisengineURL.Set() != (c.VisengineToken != "") {
		bad("set both ISEED_VISENGINE_URL and ISEED_VISENGINE_TOKEN (or _FILE) for the real API, or neither for the built-in simulator")
	}
	if c.VisengineTimeout < 0 {
		// The clients refuse it, after the embedded server has started.
		bad("ISEED_VISENGINE_TIMEOUT must not be negative (0: the default, 30s), got %s", c.VisengineTimeout)
	}
	if c.VisengineMaxList <= 0 {
		bad("ISEED_VISENGINE_MAX_LIST_BYTES must be positive (bytes, such as 134217728), got %d", c.VisengineMaxList)
	}
	if c.Workers < 0 || c.Workers > 1024 {
		bad("ISEED_WORKERS must be between 1 and 1024 (or 0: iseed chooses), got %d", c.Workers)
	}
	if c.NATSURL != "" && strings.Trim(c.NATSURL, " \t,") == "" {
		// Taken for a server's URL, it names none, and nats.go connects
		// to its default, nats://127.0.0.1:4222, instead.
		bad("ISEED_NATS_URL names no server: unset it for the embedded server, or name the servers (nats://host:4222, …)")
	} else if !natsURLsParse(c.NATSURL) {
		// Found only at the connection, it was a runtime error (exit 1)
		// that serve --check-config had passed. Quoted, the URL would show
		// its password, and net/url's detail may quote a piece of it.
		bad("ISEED_NATS_URL must be NATS server URLs separated by commas, and one does not parse: " +
			"percent-encode the user name and password in it (or set ISEED_NATS_USER and ISEED_NATS_PASSWORD instead)")
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		bad("ISEED_REPLICAS must be 1, 3 or 5, got %d", c.Replicas)
	}
	if c.TenantMaxSubs < 0 {
		bad("ISEED_TENANT_MAX_SUBMISSIONS must not be negative (0: no quota), got %d", c.TenantMaxSubs)
	}
	if c.Storage != "file" && c.Storage != "memory" {
		bad("ISEED_STORAGE must be file or memory, got %q", c.Storage)
	}
	if c.FilesMaxAge <= 0 {
		bad("ISEED_FILES_MAX_AGE must be positive (a tenant's uploaded identity documents are kept no longer), got %s", c.FilesMaxAge)
	}
	if c.AckWait < 2*time.Second {
		// A POST's deadline is its lease's end less a second: with a lease
		// of a second, no POST would ever be sent.
		bad("ISEED_ACK_WAIT must be at least 2s (a POST gets the lease less 1s), got %s", c.AckWait)
	}
	if c.AdoptGrace != 0 && c.AdoptGrace < c.AckWait {
		// Shorter than a lease, reconciliation could call a request
		// ambiguous while the worker that created it still holds its lease.
		bad("ISEED_ADOPT_GRACE must be at least ISEED_ACK_WAIT (%s), or unset for 3 × ISEED_ACK_WAIT; got %s", c.AckWait, c.AdoptGrace)
	}
	// The pipeline takes a zero or negative max age or retry delay for its
	// default (72h, 10m): the checks below would weigh another value than
	// the one it runs with.
	if c.MaxAge <= 0 {
		bad("ISEED_MAX_AGE must be positive (a duration such as 72h), got %s", c.MaxAge)
	}
	if c.RetryMaxDelay <= 0 {
		bad("ISEED_RETRY_MAX_DELAY must be positive (a duration such as 10m), got %s", c.RetryMaxDelay)
	}
	// These too are taken for their defaults when zero or negative (by the
	// breaker, the pipeline, the tracker, the schema cache and limits):
	// refused, so that the daemon runs with what is set or not at all.
	if c.BreakerFailures < 1 {
		bad("ISEED_BREAKER_FAILURES must be at least 1, got %d", c.BreakerFailures)
	}
	if c.BreakerCooldown <= 0 {
		bad("ISEED_BREAKER_COOLDOWN must be positive (a duration such as 15s), got %s", c.BreakerCooldown)
	}
	if c.ShutdownTimeout <= 0 {
		bad("ISEED_SHUTDOWN_TIMEOUT must be positive (a duration such as 30s), got %s", c.ShutdownTimeout)
	}
	if c.ReconcileSettle <= 0 {
		bad("ISEED_RECONCILE_SETTLE must be positive (a duration such as 15m), got %s", c.ReconcileSettle)
	}
	if c.SchemaTTL <= 0 {
		bad("ISEED_SCHEMA_TTL must be positive (a duration such as 24h), got %s", c.SchemaTTL)
	}
	if c.MaxFileBytes <= 0 {
		bad("ISEED_MAX_FILE_BYTES must be positive (bytes, such as 10485760), got %d", c.MaxFileBytes)
	}
	if c.SimStep <= 0 {
		// The built-in simulator would take 2s, while the tracker, which
		// polls it every ISEED_SIM_STEP, would poll without a pause.
		bad("ISEED_SIM_STEP must be positive (a duration such as 2s), got %s", c.SimStep)
	}
	if need := c.retryPolicy().DeliveriesFor(c.MaxAge); c.MaxAge > 0 && c.MaxDeliver < need {
		bad("ISEED_MAX_DELIVER=%d would dead-letter transient trouble before ISEED_MAX_AGE=%s at ISEED_RETRY_MAX_DELAY=%s: set it to at least %d (or raise the delay)",
			c.MaxDeliver, c.MaxAge, c.RetryMaxDelay, need)
	}
	if floor := c.RetryMaxDelay + c.AckWait; c.RetryMaxDelay > 0 && c.DedupWindow < floor {
		// A redelivered job publishes its event or dead letter again after
		// up to the retry delay (plus a lease, when its worker died): past
		// the window the stream would store the copy.
		bad("ISEED_DEDUP_WINDOW must be at least ISEED_RETRY_MAX_DELAY + ISEED_ACK_WAIT (%s), got %s", floor, c.DedupWindow)
	}
	errs = append(errs, c.retentionProblems()...)
	if c.UpstreamRPS < 0 {
		bad("ISEED_UPSTREAM_RPS must not be negative (0: no limit, for tests only), got %g", c.UpstreamRPS)
	}
	if c.UpstreamReserve < 1 || c.UpstreamBurst <= c.UpstreamReserve {
		bad("ISEED_UPSTREAM_BURST (%d) must exceed ISEED_UPSTREAM_RESERVE (%d), which must be at least 1", c.UpstreamBurst, c.UpstreamReserve)
	}
	if !validPrefix(c.SubjectPrefix) {
		bad("ISEED_SUBJECT_PREFIX must be one token of letters, digits, _ or -, got %q", c.SubjectPrefix)
	}
	if _, err := time.Parse(time.RFC3339Nano, c.AcceptNewRecords); c.AcceptNewRecords != "" && err != nil {
		bad("ISEED_ACCEPT_NEW_RECORDS must be the creation time serve's refusal names (RFC 3339), got %q", c.AcceptNewRecords)
	}
	for _, l := range c.listeners() {
		if !validListen(l.addr) {
			// serve would try it and say another program listens there.
			bad("%s must be HOST:PORT, such as 127.0.0.1:8080 or :8080, got %q", l.variable, l.addr)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("ISEED_LOG_FORMAT must be json or console, got %q", c.LogFormat)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		bad("ISEED_LOG_LEVEL must be trace, debug, info, warn, error, fatal, panic or disabled, got %q", c.LogLevel)
	}
	if c.NATSURL == "" && c.Replicas != 1 {
		bad("ISEED_REPLICAS=%d needs a cluster: set ISEED_NATS_URL (the embedded server has one node)", c.Replicas)
	}
	if (c.AccountEmail == "") != (c.AccountAPIKey == "") {
		bad("set both ISEED_OPENAPI_ACCOUNT_EMAIL and ISEED_OPENAPI_ACCOUNT_API_KEY (or _FILE) to read the wallet, or neither")
	}
	if c.WithdrawWait < time.Second {
		bad("ISEED_WITHDRAW_WAIT must be at least 1s, got %s", c.WithdrawWait)
	}
	if c.WalletProbe < time.Second {
		bad("ISEED_WALLET_PROBE must be at least 1s, got %s", c.WalletProbe)
	}
	if _, err := money.FromFloat(c.WalletWarnEUR); err != nil || c.WalletWarnEUR < 0 {
		// NaN, an infinity or more than money.Max has no amount in cents:
		// the low-wallet warning would be off, and nothing would say so.
		bad("ISEED_WALLET_WARN_EUR must be an amount of euros from 0 to %s, such as 100, got %g", money.Max, c.WalletWarnEUR)
	}
	// A token too short is a mistake, not a choice: the daemon would run
	// without its console. (No token is one: the console then serves only
	// a loopback listener, and the daemon says so at start.)
	if c.ConsoleToken != "" && len(c.ConsoleToken) < console.MinTokenLen {
		bad("ISEED_CONSOLE_TOKEN has %d characters; use at least %d random ones (openssl rand -hex 32)", len(c.ConsoleToken), console.MinTokenLen)
	}
	if err := console.CheckHosts(c.ConsoleHosts); err != nil {
		errs = append(errs, err)
	}
	if proxies, err := console.ParseTrustedProxies(c.ConsoleProxies); err != nil {
		errs = append(errs, err)
	} else if len(proxies) > 0 && c.ConsoleToken == "" {
		// A mistake, not a choice, as a token too short is: a console
		// without a token refuses whatever comes through a proxy, listed
		// or not, so the proxies can only mean a forgotten token. Said at
		// --check-config, not found out when the console answers 403.
		bad("ISEED_CONSOLE_TRUSTED_PROXIES is set but ISEED_CONSOLE_TOKEN is not: a console without a token answers 403 to every request "+
			"that comes through a reverse proxy, listed or not; set ISEED_CONSOLE_TOKEN (at least %d random characters: openssl rand -hex 32) "+
			"to serve the console through the proxies, or unset ISEED_CONSOLE_TRUSTED_PROXIES", console.MinTokenLen)
	}
	if c.PriorISEERule && !namesService(c.ISEEServices) {
		// tracking.History would count no completed request as a prior
		// ISEE, or, with neither list naming a service, take the defaults
		// of both (it reads two empty lists as unset).
		if namesService(c.PriorServices) {
			bad("ISEED_ISEE_SERVICES names no service: no completed request would count as a prior ISEE, and every service of " +
				"ISEED_PRIOR_ISEE_SERVICES would be rejected prior_isee_required; name them (the default is ISEE), or set ISEED_PRIOR_ISEE_RULE=false")
		} else {
			bad("ISEED_ISEE_SERVICES names no service, nor does ISEED_PRIOR_ISEE_SERVICES: the prior-ISEE rule would take the defaults of both; " +
				"set ISEED_PRIOR_ISEE_RULE=false to turn it off")
		}
	}
	if c.AuditEvery < 0 {
		bad("ISEED_AUDIT_EVERY must not be negative (0 turns the periodic audit off), got %s", c.AuditEvery)
	}
	return append(errs, c.validateTracking()...)
}

// retentionProblems checks how long the streams keep messages
// (ISEED_RETENTION, ISEED_DLQ_RETENTION) against what must outlast them,
// and what they must outlast. docs/security.md says why each bound.
func (c *Config) retentionProblems() []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.StreamRetention <= 0 {
		bad("ISEED_RETENTION must be positive (a duration such as 720h), got %s", c.StreamRetention)
	}
	if floor := 2*c.MaxAge + retentionMargin; c.MaxAge > 0 && c.StreamRetention > 0 && c.StreamRetention < floor {
		// A submission may wait ISEED_MAX_AGE before it is taken, then,
		// held by a spending cap, ISEED_MAX_AGE more, and a hold is sent
		// again from its message in the stream: gone sooner, the held
		// submission fails expired instead of going when its cap allows,
		// and a message waiting to be taken went with no event at all.
		bad("ISEED_RETENTION must be at least twice ISEED_MAX_AGE and a day (%s): a submission waits up to ISEED_MAX_AGE to be taken "+
			"and, held by a spending cap, as long again, and its message must still be in the stream; got %s", floor, c.StreamRetention)
	}
	if c.StreamRetention > 0 && c.DedupWindow > c.StreamRetention {
		// NATS refuses a stream whose duplicate window is longer than it
		// keeps messages: serve would try to make the streams again and
		// again, and never start.
		bad("ISEED_DEDUP_WINDOW must not be longer than the submissions and events streams keep messages (ISEED_RETENTION, %s), got %s", c.StreamRetention, c.DedupWindow)
	}
	switch {
	case c.DLQRetention <= 0:
		bad("ISEED_DLQ_RETENTION must be positive (a duration such as 2160h), got %s", c.DLQRetention)
	case c.StreamRetention > 0 && c.DLQRetention < c.StreamRetention:
		// The max-deliveries advisories are kept as long as dead letters:
		// one gone while the message it names is still there (no replica
		// running meanwhile) leaves that message failed with no dead
		// letter and no event.
		bad("ISEED_DLQ_RETENTION must be at least ISEED_RETENTION (%s): an advisory that a submission ran out of deliveries is kept as long as "+
			"the dead letters, and must outlast the submission's message; got %s", c.StreamRetention, c.DLQRetention)
	}
	if floor := c.DLQRetention + scrubMargin; c.DLQRetention > 0 && c.RecordScrub.On() && c.RecordScrub.Duration() < floor {
		// Sooner, a gave_up dead letter could still reopen the record's
		// tracking, which would then end without its metadata and without
		// noting a completed ISEE for the prior-ISEE rule.
		bad("ISEED_RECORD_SCRUB_AFTER must exceed the dead letters' retention (ISEED_DLQ_RETENTION, %s) by at least %s: set it to at least %s, or off; got %s",
			c.DLQRetention, scrubMargin, floor, c.RecordScrub.Duration())
	}
	return errs
}

// retentionMargin is how much longer than twice ISEED_MAX_AGE the
// submissions stream keeps a message: a held submission is sent again at
// the next pass of the holds after its maximum age, and failed then; the
// leases of the deliveries that expire it, and the skew between the
// clocks that stamp the message and the record, are within a day.
const retentionMargin = 24 * time.Hour

// scrubMargin is how much longer than a dead letter a closed record must
// be kept before it is scrubbed. A gave_up dead letter is stored after its
// record's last write (tracking writes the record first), so with equal
// durations it outlives the record's scrub by the moments between the two
// writes. One stored late, when its task came back after a crash between
// them or while the DLQ stream refused it, is followed by another write of
// the record (tracking's rewriteAfterLetter). A day covers those moments,
// and the skew between the clocks of the two streams' leaders.
const scrubMargin = 24 * time.Hour

// retryPolicy is the redelivery policy the pipeline runs with.
func (c *Config) retryPolicy() consumer.RetryPolicy {
	return consumer.RetryPolicy{MaxDelay: c.RetryMaxDelay}
}

// listenAddr is an address iseed listens on, and the variable that sets it.
type listenAddr struct{ variable, addr string }

// listeners are the addresses serve listens on with this configuration.
func (c *Config) listeners() []listenAddr {
	ls := []listenAddr{{"ISEED_HTTP_LISTEN", c.HTTPListen}}
	if c.PublicURL.Set() || (c.simulated() && c.SimCallbacks) {
		ls = append(ls, listenAddr{"ISEED_CALLBACK_LISTEN", c.CallbackListen})
	}
	if c.NATSURL == "" {
		ls = append(ls, listenAddr{"ISEED_EMBEDDED_NATS_LISTEN", c.EmbeddedNATSListen})
	}
	return ls
}

// validListen reports whether addr is HOST:PORT with a port up to 65535
// (or a service name, which the listener resolves).
func validListen(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return false
	}
	if port[0] >= '0' && port[0] <= '9' {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	return err == nil
}

// namesService reports whether a list of services (ISEED_ISEE_SERVICES,
// ISEED_PRIOR_ISEE_SERVICES) has an entry that can match one: a name or a
// hash has a letter or a digit, and tracking skips an entry without.
func namesService(entries []string) bool {
	for _, e := range entries {
		if strings.IndexFunc(e, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
			return true
		}
	}
	return false
}

func validPrefix(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// simulated reports whether iseed talks to its built-in simulator.
func (c *Config) simulated() bool { return !c.VisengineURL.Set() }
