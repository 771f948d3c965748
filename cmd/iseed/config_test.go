package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

func TestConfigValidation(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(" s3cr3t \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want string // a substring of the error; "" for valid
	}{
		{"defaults", nil, ""},
		{"url without token", map[string]string{"ISEED_VISENGINE_URL": "https://visengine2.altravia.com"}, "ISEED_VISENGINE_TOKEN"},
		{"token file", map[string]string{"ISEED_VISENGINE_URL": "https://visengine2.altravia.com", "ISEED_VISENGINE_TOKEN_FILE": tokenFile}, ""},
		{"token and file", map[string]string{"ISEED_VISENGINE_TOKEN": "x", "ISEED_VISENGINE_TOKEN_FILE": tokenFile}, "not both"},
		{"empty token file", map[string]string{"ISEED_VISENGINE_URL": "https://x.example", "ISEED_VISENGINE_TOKEN_FILE": emptyFile}, "is empty"},
		{"missing token file", map[string]string{"ISEED_VISENGINE_TOKEN_FILE": "/nonexistent/token"}, "ISEED_VISENGINE_TOKEN_FILE"},
		{"bad url", map[string]string{"ISEED_VISENGINE_URL": "ftp://x", "ISEED_VISENGINE_TOKEN": "t"}, "ISEED_VISENGINE_URL: want an absolute http(s) URL"},
		{"bad public url", map[string]string{"ISEED_PUBLIC_URL": "iseed.example.com"}, "ISEED_PUBLIC_URL: want an absolute http(s) URL"},
		{"bad schedule", map[string]string{"ISEED_POLL_SCHEDULE": "1m,,1h"}, "ISEED_POLL_SCHEDULE: want positive durations"},
		{"negative workers", map[string]string{"ISEED_WORKERS": "-1"}, "ISEED_WORKERS must be between 1 and 1024"},
		{"too many workers", map[string]string{"ISEED_WORKERS": "1025"}, "ISEED_WORKERS must be between 1 and 1024"},
		{"not a number", map[string]string{"ISEED_WORKERS": "eight"}, "WORKERS"},
		{"bad duration", map[string]string{"ISEED_ACK_WAIT": "soon"}, "ACK_WAIT"},
		{"a lease too short for any POST", map[string]string{"ISEED_ACK_WAIT": "1s"}, "ISEED_ACK_WAIT must be at least 2s"},
		{"adopt grace shorter than the lease", map[string]string{"ISEED_ADOPT_GRACE": "30s"}, "ISEED_ADOPT_GRACE must be at least ISEED_ACK_WAIT"},
		{"adopt grace set", map[string]string{"ISEED_ADOPT_GRACE": "5m"}, ""},
		{"dedup window shorter than a redelivery", map[string]string{"ISEED_DEDUP_WINDOW": "5m"}, "ISEED_DEDUP_WINDOW must be at least ISEED_RETRY_MAX_DELAY + ISEED_ACK_WAIT"},
		{"dedup window covering a redelivery", map[string]string{"ISEED_DEDUP_WINDOW": "11m"}, ""},
		{"dedup window longer than the streams keep messages", map[string]string{"ISEED_DEDUP_WINDOW": "721h"}, "ISEED_DEDUP_WINDOW must not be longer than the submissions and events streams keep messages"},
		{"dedup window as long as the streams keep messages", map[string]string{"ISEED_DEDUP_WINDOW": "720h"}, ""},
		{"listen address without a port", map[string]string{"ISEED_HTTP_LISTEN": "nonsense"}, "ISEED_HTTP_LISTEN must be HOST:PORT"},
		{"listen port out of range", map[string]string{"ISEED_EMBEDDED_NATS_LISTEN": "127.0.0.1:99999"}, "ISEED_EMBEDDED_NATS_LISTEN must be HOST:PORT"},
		{"callback listen without a host", map[string]string{"ISEED_CALLBACK_LISTEN": ":8081"}, ""},
		{"negative upstream timeout", map[string]string{"ISEED_VISENGINE_TIMEOUT": "-1s"}, "ISEED_VISENGINE_TIMEOUT must not be negative"},
		{"no room for the request list", map[string]string{"ISEED_VISENGINE_MAX_LIST_BYTES": "0"}, "ISEED_VISENGINE_MAX_LIST_BYTES must be positive"},
		{"a larger request list", map[string]string{"ISEED_VISENGINE_MAX_LIST_BYTES": "1073741824"}, ""},
		{"replicas without cluster", map[string]string{"ISEED_REPLICAS": "3"}, "needs a cluster"},
		{"bad storage", map[string]string{"ISEED_STORAGE": "disk"}, "ISEED_STORAGE must be file or memory"},
		{"files kept for ever", map[string]string{"ISEED_FILES_MAX_AGE": "0"}, "ISEED_FILES_MAX_AGE must be positive"},
		{"bad prefix", map[string]string{"ISEED_SUBJECT_PREFIX": "a.b"}, "ISEED_SUBJECT_PREFIX"},
		{"bad rate", map[string]string{"ISEED_UPSTREAM_RPS": "-1"}, "ISEED_UPSTREAM_RPS must not be negative"},
		{"reserve not below the burst", map[string]string{"ISEED_UPSTREAM_BURST": "2", "ISEED_UPSTREAM_RESERVE": "2"}, "must exceed ISEED_UPSTREAM_RESERVE"},
		{"too few deliveries for the max age", map[string]string{"ISEED_MAX_DELIVER": "100"}, "ISEED_MAX_DELIVER=100 would dead-letter transient trouble"},
		{"enough deliveries with a shorter max age", map[string]string{"ISEED_MAX_DELIVER": "120", "ISEED_MAX_AGE": "12h"}, ""},
		// The pipeline takes a zero (or negative) max age or retry delay for
		// its default (72h, 10m): the checks against them must too.
		{"max age zero", map[string]string{"ISEED_MAX_AGE": "0", "ISEED_MAX_DELIVER": "20"}, "ISEED_MAX_AGE must be positive"},
		// Without an amount in cents, the low-wallet warning was off, and
		// nothing said so.
		{"wallet warning not a number", map[string]string{"ISEED_WALLET_WARN_EUR": "NaN"}, "ISEED_WALLET_WARN_EUR must be an amount of euros from 0 to"},
		{"wallet warning too large", map[string]string{"ISEED_WALLET_WARN_EUR": "1e25"}, "ISEED_WALLET_WARN_EUR must be an amount of euros from 0 to"},
		{"wallet warning infinite", map[string]string{"ISEED_WALLET_WARN_EUR": "Inf"}, "ISEED_WALLET_WARN_EUR must be an amount of euros from 0 to"},
		{"wallet warning negative", map[string]string{"ISEED_WALLET_WARN_EUR": "-5"}, "got -5"},
		{"wallet warning in cents", map[string]string{"ISEED_WALLET_WARN_EUR": "0.29"}, ""},
		{"wallet warning at zero", map[string]string{"ISEED_WALLET_WARN_EUR": "0"}, ""},
		{"withdraw wait under a second", map[string]string{"ISEED_WITHDRAW_WAIT": "500ms"}, "ISEED_WITHDRAW_WAIT must be at least 1s"},
		{"max age negative", map[string]string{"ISEED_MAX_AGE": "-1h", "ISEED_MAX_DELIVER": "20"}, "ISEED_MAX_AGE must be positive"},
		{"retry delay zero", map[string]string{"ISEED_RETRY_MAX_DELAY": "0", "ISEED_DEDUP_WINDOW": "2m"}, "ISEED_RETRY_MAX_DELAY must be positive"},
		{"console token too short", map[string]string{"ISEED_CONSOLE_TOKEN": "short"}, "ISEED_CONSOLE_TOKEN has 5 characters; use at least 16"},
		{"console token long enough", map[string]string{"ISEED_CONSOLE_TOKEN": "0123456789abcdef"}, ""},
		{"console hosts", map[string]string{"ISEED_CONSOLE_HOSTS": "iseed.example.com, iseed"}, ""},
		{"console hosts empty", map[string]string{"ISEED_CONSOLE_HOSTS": ""}, ""},
		{"console host with a scheme", map[string]string{"ISEED_CONSOLE_HOSTS": "https://iseed.example.com"}, "ISEED_CONSOLE_HOSTS: \"https://iseed.example.com\" is not a host name"},
		{"console trusted proxies", map[string]string{"ISEED_CONSOLE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.10,fd00::/8", "ISEED_CONSOLE_TOKEN": "0123456789abcdef"}, ""},
		// A console without a token refuses whatever comes through a
		// proxy: listing proxies can only mean a forgotten token.
		{"console trusted proxies without a token", map[string]string{"ISEED_CONSOLE_TRUSTED_PROXIES": "10.0.0.0/8"},
			"ISEED_CONSOLE_TRUSTED_PROXIES is set but ISEED_CONSOLE_TOKEN is not: a console without a token answers 403 to every request that comes through a reverse proxy"},
		{"console trusted proxies empty without a token", map[string]string{"ISEED_CONSOLE_TRUSTED_PROXIES": " , "}, ""},
		{"console trusted proxy not an address", map[string]string{"ISEED_CONSOLE_TRUSTED_PROXIES": "10.0.0.0/8,ingress-nginx"}, "ISEED_CONSOLE_TRUSTED_PROXIES: \"ingress-nginx\" is not a CIDR or an IP address"},
		{"console trusting every address", map[string]string{"ISEED_CONSOLE_TRUSTED_PROXIES": "0.0.0.0/0"}, "ISEED_CONSOLE_TRUSTED_PROXIES: \"0.0.0.0/0\" trusts every address"},
		{"every problem at once", map[string]string{"ISEED_WORKERS": "-1", "ISEED_STORAGE": "disk"}, "ISEED_STORAGE"},
		{"accepting a lost records bucket", map[string]string{"ISEED_ACCEPT_NEW_RECORDS": "2026-12-01T18:05:20.037114689Z"}, ""},
		{"accepting anything", map[string]string{"ISEED_ACCEPT_NEW_RECORDS": "true"}, "ISEED_ACCEPT_NEW_RECORDS must be the creation time serve's refusal names"},
		{"record scrub off", map[string]string{"ISEED_RECORD_SCRUB_AFTER": "off"}, ""},
		{"record scrub 0", map[string]string{"ISEED_RECORD_SCRUB_AFTER": "0"}, ""},
		// A gave_up dead letter is stored after its record's last write:
		// kept as long, it would outlive the record's scrub.
		{"record scrub a day after the dead letters' retention", map[string]string{"ISEED_RECORD_SCRUB_AFTER": "2184h"}, ""},
		{"record scrub within a day of the dead letters' retention", map[string]string{"ISEED_RECORD_SCRUB_AFTER": "2183h59m"},
			"ISEED_RECORD_SCRUB_AFTER must exceed the dead letters' retention (ISEED_DLQ_RETENTION, 2160h0m0s) by at least 24h0m0s: set it to at least 2184h0m0s, or off; got 2183h59m0s"},
		{"record scrub with the dead letters' retention", map[string]string{"ISEED_RECORD_SCRUB_AFTER": "2160h"},
			"ISEED_RECORD_SCRUB_AFTER must exceed the dead letters' retention (ISEED_DLQ_RETENTION, 2160h0m0s) by at least 24h0m0s: set it to at least 2184h0m0s, or off; got 2160h0m0s"},
		{"record scrub before the dead letters' retention", map[string]string{"ISEED_RECORD_SCRUB_AFTER": "720h"},
			"ISEED_RECORD_SCRUB_AFTER must exceed the dead letters' retention (ISEED_DLQ_RETENTION, 2160h0m0s) by at least 24h0m0s: set it to at least 2184h0m0s, or off; got 720h0m0s"},
		// ISEED_RETENTION and ISEED_DLQ_RETENTION, and what they bound.
		{"retention set", map[string]string{"ISEED_RETENTION": "336h", "ISEED_DLQ_RETENTION": "336h", "ISEED_RECORD_SCRUB_AFTER": "360h"}, ""},
		{"retention zero", map[string]string{"ISEED_RETENTION": "0"}, "ISEED_RETENTION must be positive (a duration such as 720h), got 0s"},
		{"retention negative", map[string]string{"ISEED_RETENTION": "-720h"}, "ISEED_RETENTION must be positive (a duration such as 720h), got -720h0m0s"},
		{"retention in days", map[string]string{"ISEED_RETENTION": "30d"}, `ISEED_RETENTION: time: unknown unit "d"`},
		// A held submission waits up to ISEED_MAX_AGE after it was taken,
		// itself up to ISEED_MAX_AGE after it was published.
		{"retention twice the max age and a day", map[string]string{"ISEED_RETENTION": "168h"}, ""},
		{"retention within a day of twice the max age", map[string]string{"ISEED_RETENTION": "167h59m"},
			"ISEED_RETENTION must be at least twice ISEED_MAX_AGE and a day (168h0m0s): a submission waits up to ISEED_MAX_AGE to be taken and, held by a spending cap, as long again, and its message must still be in the stream; got 167h59m0s"},
		{"retention of the max age", map[string]string{"ISEED_RETENTION": "72h"}, "ISEED_RETENTION must be at least twice ISEED_MAX_AGE and a day (168h0m0s)"},
		{"retention with a shorter max age", map[string]string{"ISEED_RETENTION": "48h", "ISEED_MAX_AGE": "12h", "ISEED_MAX_DELIVER": "120"}, ""},
		{"dedup window longer than the retention set", map[string]string{"ISEED_RETENTION": "168h", "ISEED_DEDUP_WINDOW": "169h"},
			"ISEED_DEDUP_WINDOW must not be longer than the submissions and events streams keep messages (ISEED_RETENTION, 168h0m0s), got 169h0m0s"},
		{"dead letters kept zero", map[string]string{"ISEED_DLQ_RETENTION": "0"}, "ISEED_DLQ_RETENTION must be positive (a duration such as 2160h), got 0s"},
		{"dead letters kept less than the submissions", map[string]string{"ISEED_DLQ_RETENTION": "719h"},
			"ISEED_DLQ_RETENTION must be at least ISEED_RETENTION (720h0m0s): an advisory that a submission ran out of deliveries is kept as long as the dead letters, and must outlast the submission's message; got 719h0m0s"},
		{"dead letters kept as long as the submissions", map[string]string{"ISEED_DLQ_RETENTION": "720h", "ISEED_RECORD_SCRUB_AFTER": "744h"}, ""},
		// The scrub follows the dead letters' retention, not a fixed 2184h.
		{"record scrub a day after shorter dead letters", map[string]string{"ISEED_DLQ_RETENTION": "720h", "ISEED_RECORD_SCRUB_AFTER": "743h59m"},
			"ISEED_RECORD_SCRUB_AFTER must exceed the dead letters' retention (ISEED_DLQ_RETENTION, 720h0m0s) by at least 24h0m0s: set it to at least 744h0m0s, or off; got 743h59m0s"},
		{"record scrub within a day of longer dead letters", map[string]string{"ISEED_DLQ_RETENTION": "4320h"},
			"ISEED_RECORD_SCRUB_AFTER must exceed the dead letters' retention (ISEED_DLQ_RETENTION, 4320h0m0s) by at least 24h0m0s: set it to at least 4344h0m0s, or off; got 2400h0m0s"},
		{"record scrub off with longer dead letters", map[string]string{"ISEED_DLQ_RETENTION": "4320h", "ISEED_RECORD_SCRUB_AFTER": "off"}, ""},
		{"record scrub in days", map[string]string{"ISEED_RECORD_SCRUB_AFTER": "100d"}, "ISEED_RECORD_SCRUB_AFTER: want a duration such as 2400h, or off"},
		{"record scrub negative", map[string]string{"ISEED_RECORD_SCRUB_AFTER": "-1h"}, "ISEED_RECORD_SCRUB_AFTER: want a duration such as 2400h, or off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := loadConfig()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got error %v, want one mentioning %q", err, tt.want)
			}
			if tt.name == "token file" && cfg.VisengineToken != "s3cr3t" {
				t.Errorf("token from file: got %q, want it trimmed", cfg.VisengineToken)
			}
		})
	}
}

// TestConfigRefusesWhatWouldBeReplaced: a value the daemon's components
// would silently take for their default (zero or negative) is refused by
// serve --check-config and by serve alike, exit 2 naming the variable;
// the smallest value they keep is accepted.
func TestConfigRefusesWhatWouldBeReplaced(t *testing.T) {
	tests := []struct {
		variable, value string
		want            string // in the error; "" for valid
	}{
		{"ISEED_BREAKER_FAILURES", "0", "ISEED_BREAKER_FAILURES must be at least 1, got 0"},
		{"ISEED_BREAKER_FAILURES", "-1", "ISEED_BREAKER_FAILURES must be at least 1, got -1"},
		{"ISEED_BREAKER_FAILURES", "1", ""},
		{"ISEED_BREAKER_COOLDOWN", "0", "ISEED_BREAKER_COOLDOWN must be positive (a duration such as 15s), got 0s"},
		{"ISEED_BREAKER_COOLDOWN", "-5s", "ISEED_BREAKER_COOLDOWN must be positive (a duration such as 15s), got -5s"},
		{"ISEED_BREAKER_COOLDOWN", "1ns", ""},
		{"ISEED_SHUTDOWN_TIMEOUT", "0", "ISEED_SHUTDOWN_TIMEOUT must be positive (a duration such as 30s), got 0s"},
		{"ISEED_SHUTDOWN_TIMEOUT", "-5s", "ISEED_SHUTDOWN_TIMEOUT must be positive (a duration such as 30s), got -5s"},
		{"ISEED_SHUTDOWN_TIMEOUT", "1ns", ""},
		{"ISEED_RECONCILE_SETTLE", "0", "ISEED_RECONCILE_SETTLE must be positive (a duration such as 15m), got 0s"},
		{"ISEED_RECONCILE_SETTLE", "-1m", "ISEED_RECONCILE_SETTLE must be positive (a duration such as 15m), got -1m0s"},
		{"ISEED_RECONCILE_SETTLE", "1ns", ""},
		{"ISEED_SCHEMA_TTL", "0", "ISEED_SCHEMA_TTL must be positive (a duration such as 24h), got 0s"},
		{"ISEED_SCHEMA_TTL", "-1h", "ISEED_SCHEMA_TTL must be positive (a duration such as 24h), got -1h0m0s"},
		{"ISEED_SCHEMA_TTL", "1ns", ""},
		{"ISEED_MAX_FILE_BYTES", "0", "ISEED_MAX_FILE_BYTES must be positive (bytes, such as 10485760), got 0"},
		{"ISEED_MAX_FILE_BYTES", "-1", "ISEED_MAX_FILE_BYTES must be positive (bytes, such as 10485760), got -1"},
		{"ISEED_MAX_FILE_BYTES", "1", ""},
		// The built-in simulator takes 0 for 2s; the tracker polls it
		// every ISEED_SIM_STEP, so 0 would poll without a pause.
		{"ISEED_SIM_STEP", "0", "ISEED_SIM_STEP must be positive (a duration such as 2s), got 0s"},
		{"ISEED_SIM_STEP", "-2s", "ISEED_SIM_STEP must be positive (a duration such as 2s), got -2s"},
		{"ISEED_SIM_STEP", "1ns", ""},
		// The layout takes 0 for 30 days (the submissions and events) and
		// 90 days (the dead letters).
		{"ISEED_RETENTION", "0", "ISEED_RETENTION must be positive (a duration such as 720h), got 0s"},
		{"ISEED_RETENTION", "-720h", "ISEED_RETENTION must be positive (a duration such as 720h), got -720h0m0s"},
		{"ISEED_RETENTION", "168h", ""},
		{"ISEED_DLQ_RETENTION", "0", "ISEED_DLQ_RETENTION must be positive (a duration such as 2160h), got 0s"},
		{"ISEED_DLQ_RETENTION", "-2160h", "ISEED_DLQ_RETENTION must be positive (a duration such as 2160h), got -2160h0m0s"},
		{"ISEED_DLQ_RETENTION", "720h", ""},
		// zerolog's own refusal says it is "defaulting to NoLevel", which
		// it is not: the start is refused.
		{"ISEED_LOG_LEVEL", "bogus", `ISEED_LOG_LEVEL must be trace, debug, info, warn, error, fatal, panic or disabled, got "bogus"`},
		{"ISEED_LOG_LEVEL", "", `ISEED_LOG_LEVEL must be trace, debug, info, warn, error, fatal, panic or disabled, got ""`},
		{"ISEED_LOG_LEVEL", "debug", ""},
	}
	for _, tt := range tests {
		t.Run(tt.variable+"="+tt.value, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			t.Setenv("ISEED_DATA_DIR", dir)
			t.Setenv("ISEED_NATS_URL", "")
			t.Setenv("ISEED_EMBEDDED_NATS_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
			t.Setenv(tt.variable, tt.value)
			commands := [][]string{{"serve", "--check-config"}}
			if tt.want != "" {
				// Only a refused value: an accepted one would start the daemon.
				commands = append(commands, []string{"serve"})
			}
			for _, args := range commands {
				out, errOut, code := runCLIFor(t, 5*time.Second, args...) // bounded: a serve that starts must not hang the test
				switch {
				case tt.want == "" && code != 0:
					t.Errorf("%v: exit %d, stderr %q; want 0", args, code, errOut)
				case tt.want != "" && (code != 2 || !strings.Contains(errOut, tt.want)):
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", args, code, out, errOut, tt.want)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v); want the configuration refused before", err)
			}
		})
	}
}

// TestConsoleProxiesWithoutATokenRefused: a console without a token
// answers 403 to whatever comes through a reverse proxy, so
// ISEED_CONSOLE_TRUSTED_PROXIES without ISEED_CONSOLE_TOKEN can only be a
// forgotten token: serve --check-config and serve refuse it, exit 2
// saying what to set, before anything is created.
func TestConsoleProxiesWithoutATokenRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("ISEED_DATA_DIR", dir)
	t.Setenv("ISEED_NATS_URL", "")
	t.Setenv("ISEED_EMBEDDED_NATS_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CONSOLE_TOKEN", "")
	t.Setenv("ISEED_CONSOLE_TRUSTED_PROXIES", "127.0.0.1")
	const want = "ISEED_CONSOLE_TRUSTED_PROXIES is set but ISEED_CONSOLE_TOKEN is not"
	for _, args := range [][]string{{"serve", "--check-config"}, {"serve"}} {
		out, errOut, code := runCLIFor(t, 5*time.Second, args...) // bounded: a serve that starts must not hang the test
		if code != 2 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "set ISEED_CONSOLE_TOKEN") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q", args, code, out, errOut, want)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data directory was created (%v); want the configuration refused before", err)
	}
}

// TestConfigRefusesADedupWindowTheStreamsCannotHave: NATS refuses a stream
// whose duplicate window is longer than it keeps messages, and the
// submissions and events streams keep them ISEED_RETENTION, 30 days by default. serve --check-config and
// serve refuse a longer ISEED_DEDUP_WINDOW, exit 2 naming it, before
// anything is created, instead of serve trying to make the streams again
// and again; the longest window the streams take starts.
func TestConfigRefusesADedupWindowTheStreamsCannotHave(t *testing.T) {
	tests := []struct {
		value string
		want  string // in the error; "" for valid
	}{
		{"721h", "ISEED_DEDUP_WINDOW must not be longer than the submissions and events streams keep messages (ISEED_RETENTION, 720h0m0s), got 721h0m0s"},
		{"720h", ""},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			t.Setenv("ISEED_DATA_DIR", dir)
			t.Setenv("ISEED_NATS_URL", "")
			t.Setenv("ISEED_EMBEDDED_NATS_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_DEDUP_WINDOW", tt.value)
			wantCode := 0
			if tt.want != "" {
				wantCode = 2
			}
			out, errOut, code := runCLIFor(t, 5*time.Second, "serve", "--check-config")
			if code != wantCode || !strings.Contains(errOut, tt.want) {
				t.Errorf("serve --check-config: exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, wantCode, tt.want)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var stdout, stderr pipetest.Buffer
			var err error
			finished := make(chan struct{})
			go func() { err = run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, &stderr); close(finished) }()
			t.Cleanup(func() { cancel(); <-finished })
			exitedYet := func() bool {
				select {
				case <-finished:
					return true
				default:
					return false
				}
			}
			const notReady = "JetStream layout not ready" // NATS refused a stream: serve tries again
			waitUntil(t, 30*time.Second, "serve to start, refuse or retry", func() bool {
				return exitedYet() || strings.Contains(stderr.String(), "iseed started") || strings.Contains(stderr.String(), notReady)
			})
			exited := exitedYet()
			cancel()
			<-finished
			switch {
			case tt.want != "" && (!exited || exitCode(err) != 2 || !strings.Contains(stderr.String(), tt.want)):
				t.Errorf("serve: exit %d (exited at once: %t), stderr %q; want 2 at once and %q", exitCode(err), exited, stderr.String(), tt.want)
			case tt.want != "":
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("the data directory was created (%v); want the configuration refused before", err)
				}
			case !strings.Contains(stderr.String(), "iseed started") || strings.Contains(stderr.String(), notReady):
				t.Errorf("serve: exit %d, stderr %q; want it started, every stream made", exitCode(err), stderr.String())
			}
		})
	}
}

// TestConfigReportsEveryProblem: a variable that does not parse hides no
// other problem, except those that depend on it.
func TestConfigReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    []string // each in the error
		notWant []string // none in the error
	}{
		{"two variables that do not parse", map[string]string{"ISEED_ACK_WAIT": "banana", "ISEED_WORKERS": "eight"},
			[]string{`ISEED_ACK_WAIT: time: invalid duration "banana"`, "ISEED_WORKERS: strconv.ParseInt"}, nil},
		{"with the problems that do not depend on them", map[string]string{"ISEED_ACK_WAIT": "banana", "ISEED_OVERDUE_AFTER": "1h", "ISEED_WORKERS": "-1"},
			[]string{`ISEED_ACK_WAIT: time: invalid duration "banana"`, "ISEED_OVERDUE_AFTER is replaced", "ISEED_WORKERS must be between 1 and 1024 (or 0: iseed chooses), got -1"},
			[]string{"ISEED_ACK_WAIT must be at least 2s"}},
		{"without those that do", map[string]string{"ISEED_UPSTREAM_BURST": "x", "ISEED_POLL_MIN": "soon", "ISEED_STORAGE": "disk", "ISEED_TRACK_ACK_WAIT": "0s"},
			[]string{"ISEED_UPSTREAM_BURST: strconv.ParseInt", "ISEED_POLL_MIN: time", "ISEED_STORAGE must be file or memory", "ISEED_TRACK_ACK_WAIT must be at least 1s"},
			[]string{"ISEED_UPSTREAM_BURST (", "ISEED_POLL_MAX ("}},
		{"retentions that do not parse", map[string]string{"ISEED_RETENTION": "30d", "ISEED_DLQ_RETENTION": "forever", "ISEED_RECORD_SCRUB_AFTER": "720h", "ISEED_DEDUP_WINDOW": "800h"},
			[]string{`ISEED_RETENTION: time: unknown unit "d"`, `ISEED_DLQ_RETENTION: time: invalid duration "forever"`},
			[]string{"ISEED_RETENTION must", "ISEED_DLQ_RETENTION must", "ISEED_RECORD_SCRUB_AFTER must", "ISEED_DEDUP_WINDOW must not"}},
		{"a max age that does not parse", map[string]string{"ISEED_MAX_AGE": "3d", "ISEED_RETENTION": "24h", "ISEED_DEDUP_WINDOW": "1h", "ISEED_STORAGE": "disk"},
			[]string{`ISEED_MAX_AGE: time: unknown unit "d"`, "ISEED_STORAGE must be file or memory"}, []string{"ISEED_RETENTION must"}},
		{"with a secret file missing", map[string]string{"ISEED_ACK_WAIT": "banana", "ISEED_VISENGINE_TOKEN_FILE": "/nonexistent/token"},
			[]string{`ISEED_ACK_WAIT: time: invalid duration "banana"`, "ISEED_VISENGINE_TOKEN_FILE"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := loadConfig()
			if err == nil || cfg != nil {
				t.Fatalf("got config %v, error %v; want no config and an error", cfg, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want one mentioning %q", err, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want none mentioning %q: it depends on a variable that does not parse", err, w)
				}
			}
		})
	}
}

// TestConfigSaysAPollProblemOnce: a poll variable out of range is one
// problem, said once, not again in the schedule's own words.
func TestConfigSaysAPollProblemOnce(t *testing.T) {
	for _, tc := range []struct {
		variable, value, want string
	}{
		{"ISEED_POLL_JITTER", "2", "ISEED_POLL_JITTER must be a share from 0 (none) to below 1, such as 0.2, got 2"},
		{"ISEED_POLL_MIN", "48h", "ISEED_POLL_MAX (24h0m0s) must not be shorter than ISEED_POLL_MIN (48h0m0s), which must be positive"},
	} {
		t.Run(tc.variable, func(t *testing.T) {
			t.Setenv(tc.variable, tc.value)
			_, err := loadConfig()
			if err == nil || err.Error() != tc.want {
				t.Errorf("%s=%s: got error %q; want %q alone", tc.variable, tc.value, err, tc.want)
			}
		})
	}
}

func TestNamesAny(t *testing.T) {
	tests := []struct {
		problem string
		vars    []string
		want    bool
	}{
		{"ISEED_ADOPT_GRACE must be at least ISEED_ACK_WAIT (0s), or unset", []string{"ISEED_ACK_WAIT"}, true},
		{"ISEED_MAX_DELIVER=100 would dead-letter", []string{"ISEED_MAX_DELIVER"}, true},
		{"ISEED_TRACK_ACK_WAIT must be at least 1s", []string{"ISEED_ACK_WAIT"}, false},
		{"ISEED_POLL_*: no service", []string{"ISEED_WORKERS", "ISEED_POLL_EXPECT"}, true},
		{"ISEED_POLL_*: no service", []string{"ISEED_TRACK_WORKERS"}, false},
		{"set both ISEED_VISENGINE_URL and ISEED_VISENGINE_TOKEN (or _FILE)", []string{"ISEED_VISENGINE_TOKEN_FILE"}, false},
		{"3 * 4 is not a variable", []string{"ISEED_WORKERS"}, false},
	}
	for _, tt := range tests {
		if got := namesAny(tt.problem, tt.vars); got != tt.want {
			t.Errorf("namesAny(%q, %v): got %v, want %v", tt.problem, tt.vars, got, tt.want)
		}
	}
}

func TestConnectWithTokenAuth(t *testing.T) {
	t.Parallel()
	opts := natsserver.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	opts.Authorization = "n4ts-t0ken"
	srv := natsserver.RunServer(&opts)
	t.Cleanup(srv.Shutdown)
	for _, tt := range []struct {
		token string
		ok    bool
	}{{"n4ts-t0ken", true}, {"wrong", false}} {
		cfg := &Config{NATSURL: srv.ClientURL(), NATSToken: tt.token}
		c, err := connectNATS(cfg, zerolog.Nop())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err = c.nc.FlushWithContext(ctx)
			cancel()
			c.close(time.Second)
		}
		if (err == nil) != tt.ok {
			t.Errorf("token %q: got error %v, want ok=%v", tt.token, err, tt.ok)
		}
	}
}

// TestConnectLogsSlowConsumers: a subscription that drops messages is
// logged, not silent.
func TestConnectLogsSlowConsumers(t *testing.T) {
	opts := natsserver.DefaultTestOptions
	opts.Port = -1
	srv := natsserver.RunServer(&opts)
	t.Cleanup(srv.Shutdown)
	var logs pipetest.Buffer
	c, err := connectNATS(&Config{NATSURL: srv.ClientURL()}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.close(time.Second) })
	sub, err := c.nc.ChanSubscribe("iseed.slow", make(chan *nats.Msg, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for range 3 {
		if err := c.nc.Publish("iseed.slow", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"subscription":"iseed.slow"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the slow consumer; logs: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "slow consumer") || !strings.Contains(logs.String(), `"level":"warn"`) {
		t.Errorf("log: got %s, want a warning naming the slow consumer", logs.String())
	}
}

// TestConfigRefusesANATSURLThatDoesNotParse: an ISEED_NATS_URL that
// nats.go cannot parse (a password with a "%" or a space not
// percent-encoded) is a configuration mistake: serve --check-config, serve
// and the operator commands refuse it, exit 2 naming the variable and
// quoting nothing of it, before anything is created. serve --check-config
// said "configuration valid", and serve then failed at its connection,
// exit 1: a deployment check passed what every replica refused. A URL
// without a scheme, which nats.go takes as nats://, is accepted.
func TestConfigRefusesANATSURLThatDoesNotParse(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want bool // refused
	}{
		{"nats://ops:s3cr%zzt@127.0.0.1:1", true},
		{"nats://ops:s3cr et@127.0.0.1:1", true},
		{"nats://ops:s3cret/pass@127.0.0.1:1", true}, // net/url would quote it whole
		{"nats://127.0.0.1:1, nats://ops:s3cret@127.0.0.1:notaport", true},
		{"nats://ops:s3cr%25t@127.0.0.1:1", false},
		{"127.0.0.1:1", false},
	} {
		t.Run(tt.url, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			t.Setenv("ISEED_DATA_DIR", dir)
			t.Setenv("ISEED_NATS_URL", tt.url)
			t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
			if !tt.want {
				if out, errOut, code := runCLI(t, "serve", "--check-config"); code != 0 {
					t.Errorf("serve --check-config: exit %d, stdout %q, stderr %q; want 0", code, out, errOut)
				}
				return
			}
			const want = "ISEED_NATS_URL must be NATS server URLs separated by commas, and one does not parse"
			for _, args := range [][]string{{"serve", "--check-config"}, {"serve"}, {"status", "--tenant", "acme", "emp-1"}} {
				out, errOut, code := runCLIFor(t, 5*time.Second, args...) // bounded: a serve that starts must not hang the test
				if code != 2 || !strings.Contains(errOut, want) || strings.Contains(errOut, "s3cr") {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and %q, without the password", args, code, out, errOut, want)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the data directory was created (%v); want the configuration refused before", err)
			}
		})
	}
}

// TestConfigRefusesPriorISEEListsThatNameNothing: with the prior-ISEE rule
// on, an ISEED_ISEE_SERVICES set but naming no service (empty, or only
// commas) would count no completed request as a prior ISEE, and every
// ISEE CORRENTE would be rejected prior_isee_required for good; both lists
// naming none would apply tracking's defaults instead (tracking.NewHistory
// takes two empty lists for unset). serve --check-config refuses either,
// exit 2, saying to set ISEED_PRIOR_ISEE_RULE=false; an empty
// ISEED_PRIOR_ISEE_SERVICES alone (no service needs a prior ISEE) stands,
// and so does anything with the rule off.
func TestConfigRefusesPriorISEEListsThatNameNothing(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string // in the error; "" for valid
	}{
		{map[string]string{"ISEED_ISEE_SERVICES": ""}, "ISEED_ISEE_SERVICES names no service"},
		{map[string]string{"ISEED_ISEE_SERVICES": " , "}, "ISEED_ISEE_SERVICES names no service"},
		{map[string]string{"ISEED_ISEE_SERVICES": "", "ISEED_PRIOR_ISEE_SERVICES": ""}, "ISEED_ISEE_SERVICES names no service"},
		{map[string]string{"ISEED_PRIOR_ISEE_SERVICES": ""}, ""},
		{map[string]string{"ISEED_ISEE_SERVICES": "", "ISEED_PRIOR_ISEE_RULE": "false"}, ""},
		{map[string]string{"ISEED_ISEE_SERVICES": "ISEE,6aa0789f5ba34684b2bc5ccf364f8929"}, ""},
	} {
		t.Run(fmt.Sprint(tt.env), func(t *testing.T) {
			t.Setenv("ISEED_DATA_DIR", filepath.Join(t.TempDir(), "data"))
			t.Setenv("ISEED_NATS_URL", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, errOut, code := runCLI(t, "serve", "--check-config")
			switch {
			case tt.want == "" && code != 0:
				t.Errorf("exit %d, stderr %q; want 0", code, errOut)
			case tt.want != "" && (code != 2 || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "ISEED_PRIOR_ISEE_RULE=false")):
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tt.want)
			}
		})
	}
}

// TestConfigURLErrorsShowNoPassword: an ISEED_VISENGINE_URL or
// ISEED_OPENAPI_ACCOUNT_URL that is refused is named without the password
// a URL may carry: one that does not parse is not quoted (net/url's
// detail would quote a piece of it), one of another scheme is quoted
// redacted.
func TestConfigURLErrorsShowNoPassword(t *testing.T) {
	for _, variable := range []string{"ISEED_VISENGINE_URL", "ISEED_OPENAPI_ACCOUNT_URL"} {
		for _, value := range []string{"https://ops:s3cr%zzt@example.test", "ftp://ops:s3cret@example.test", "https://ops:s3cret@:notaport"} {
			t.Run(variable+"="+value, func(t *testing.T) {
				t.Setenv("ISEED_DATA_DIR", filepath.Join(t.TempDir(), "data"))
				t.Setenv(variable, value)
				t.Setenv("ISEED_VISENGINE_TOKEN", "t")
				out, errOut, code := runCLI(t, "serve", "--check-config")
				if code != 2 || !strings.Contains(errOut, variable) || strings.Contains(errOut, "s3cr") {
					t.Errorf("exit %d, stdout %q, stderr %q; want 2, naming %s, without the password", code, out, errOut, variable)
				}
			})
		}
	}
}

// TestConfigRefusesANATSURLNamingNoServer: an ISEED_NATS_URL set but blank
// (spaces, commas) is neither the embedded server nor a cluster: nats.go
// would connect to its default, 127.0.0.1:4222. It is refused at start.
func TestConfigRefusesANATSURLNamingNoServer(t *testing.T) {
	for _, value := range []string{" ", " , ", "\t"} {
		t.Run(strconv.Quote(value), func(t *testing.T) {
			t.Setenv("ISEED_DATA_DIR", filepath.Join(t.TempDir(), "data"))
			t.Setenv("ISEED_NATS_URL", value)
			const want = "ISEED_NATS_URL names no server"
			if out, errOut, code := runCLI(t, "serve", "--check-config"); code != 2 || !strings.Contains(errOut, want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
			}
		})
	}
}
