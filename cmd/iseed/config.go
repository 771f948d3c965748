package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/kelseyhightower/envconfig"
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

	VisengineURL       URL           `envconfig:"VISENGINE_URL"`
	VisengineToken     string        `envconfig:"VISENGINE_TOKEN"`
	VisengineTokenFile string        `envconfig:"VISENGINE_TOKEN_FILE"`
	VisengineTimeout   time.Duration `envconfig:"VISENGINE_TIMEOUT" default:"30s"`
	SimStep            time.Duration `envconfig:"SIM_STEP" default:"2s"`
	SimCallbacks       bool          `envconfig:"SIM_CALLBACKS" default:"true"`
	SimProfile         sim.Profile   `envconfig:"SIM_PROFILE" default:"friendly"`
	SimEcho            sim.Echo      `envconfig:"SIM_ECHO"`

	SubjectPrefix   string        `envconfig:"SUBJECT_PREFIX" default:"iseed"`
	Replicas        int           `envconfig:"REPLICAS" default:"1"`
	Storage         string        `envconfig:"STORAGE" default:"file"`
	Workers         int           `envconfig:"WORKERS" default:"8"`
	AckWait         time.Duration `envconfig:"ACK_WAIT" default:"60s"`
	MaxDeliver      int           `envconfig:"MAX_DELIVER" default:"1000"`
	MaxAge          time.Duration `envconfig:"MAX_AGE" default:"72h"`
	RetryMaxDelay   time.Duration `envconfig:"RETRY_MAX_DELAY" default:"10m"`
	ReconcileSettle time.Duration `envconfig:"RECONCILE_SETTLE" default:"15m"`
	AdoptGrace      time.Duration `envconfig:"ADOPT_GRACE"` // 0: 3 × ACK_WAIT
	TrustMarker     bool          `envconfig:"RECONCILE_TRUST_MARKER" default:"false"`
	DedupWindow     time.Duration `envconfig:"DEDUP_WINDOW" default:"24h"`
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
	ConsoleToken      string        `envconfig:"CONSOLE_TOKEN"`

	HTTPListen     string `envconfig:"HTTP_LISTEN" default:"127.0.0.1:8080"`
	CallbackListen string `envconfig:"CALLBACK_LISTEN" default:"127.0.0.1:8081"`
	LogLevel       string `envconfig:"LOG_LEVEL" default:"info"`
	LogFormat      string `envconfig:"LOG_FORMAT" default:"json"`
}

// loadConfig reads the environment and validates it.
func loadConfig() (*Config, error) {
	var c Config
	if err := envconfig.Process("iseed", &c); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("configuration: %s: %w", pe.KeyName, pe.Err)
		}
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if err := c.resolveSecrets(); err != nil {
		return nil, err
	}
	return &c, c.validate()
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
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.VisengineURL.Set() != (c.VisengineToken != "") {
		bad("set both ISEED_VISENGINE_URL and ISEED_VISENGINE_TOKEN (or _FILE) for the real API, or neither for the built-in simulator")
	}
	if c.Workers < 1 || c.Workers > 1024 {
		bad("ISEED_WORKERS must be between 1 and 1024, got %d", c.Workers)
	}
	if c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5 {
		bad("ISEED_REPLICAS must be 1, 3 or 5, got %d", c.Replicas)
	}
	if c.Storage != "file" && c.Storage != "memory" {
		bad("ISEED_STORAGE must be file or memory, got %q", c.Storage)
	}
	if c.AckWait < time.Second {
		bad("ISEED_ACK_WAIT must be at least 1s, got %s", c.AckWait)
	}
	if c.AdoptGrace != 0 && c.AdoptGrace < c.AckWait {
		// Shorter than a lease, reconciliation could call a request
		// ambiguous while the worker that created it still holds its lease.
		bad("ISEED_ADOPT_GRACE must be at least ISEED_ACK_WAIT (%s), or unset for 3 × ISEED_ACK_WAIT; got %s", c.AckWait, c.AdoptGrace)
	}
	if need := c.retryPolicy().DeliveriesFor(c.MaxAge); c.MaxDeliver < need {
		bad("ISEED_MAX_DELIVER=%d would dead-letter transient trouble before ISEED_MAX_AGE=%s at ISEED_RETRY_MAX_DELAY=%s: set it to at least %d (or raise the delay)",
			c.MaxDeliver, c.MaxAge, c.RetryMaxDelay, need)
	}
	if c.UpstreamRPS < 0 {
		bad("ISEED_UPSTREAM_RPS must be positive (0: no limit, for tests only), got %g", c.UpstreamRPS)
	}
	if c.UpstreamReserve < 1 || c.UpstreamBurst <= c.UpstreamReserve {
		bad("ISEED_UPSTREAM_BURST (%d) must exceed ISEED_UPSTREAM_RESERVE (%d), which must be at least 1", c.UpstreamBurst, c.UpstreamReserve)
	}
	if !validPrefix(c.SubjectPrefix) {
		bad("ISEED_SUBJECT_PREFIX must be one token of letters, digits, _ or -, got %q", c.SubjectPrefix)
	}
	if c.LogFormat != "json" && c.LogFormat != "console" {
		bad("ISEED_LOG_FORMAT must be json or console, got %q", c.LogFormat)
	}
	if c.NATSURL == "" && c.Replicas != 1 {
		bad("ISEED_REPLICAS=%d needs a cluster: set ISEED_NATS_URL (the embedded server has one node)", c.Replicas)
	}
	if (c.AccountEmail == "") != (c.AccountAPIKey == "") {
		bad("set both ISEED_OPENAPI_ACCOUNT_EMAIL and ISEED_OPENAPI_ACCOUNT_API_KEY (or _FILE) to read the wallet, or neither")
	}
	if c.WalletProbe < time.Second {
		bad("ISEED_WALLET_PROBE must be at least 1s, got %s", c.WalletProbe)
	}
	if c.AuditEvery < 0 {
		bad("ISEED_AUDIT_EVERY must not be negative (0 turns the periodic audit off), got %s", c.AuditEvery)
	}
	errs = append(errs, c.validateTracking()...)
	return errors.Join(errs...)
}

// retryPolicy is the redelivery policy the pipeline runs with.
func (c *Config) retryPolicy() consumer.RetryPolicy {
	return consumer.RetryPolicy{MaxDelay: c.RetryMaxDelay}
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
