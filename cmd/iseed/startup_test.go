package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestServeCheckConfig validates the configuration without connecting to
// anything or creating anything.
func TestServeCheckConfig(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		code int
		want string // on standard output (0) or in the one-line error (2)
	}{
		{"defaults", nil, 0, "configuration valid"},
		{"a cluster that is not there", map[string]string{"ISEED_NATS_URL": "nats://127.0.0.1:1", "ISEED_REPLICAS": "3"}, 0, "configuration valid"},
		{"too few deliveries", map[string]string{"ISEED_MAX_DELIVER": "500"}, 2, "set it to at least"},
		{"a log level", map[string]string{"ISEED_LOG_LEVEL": "loud"}, 2, "ISEED_LOG_LEVEL"},
		{"half a client certificate", map[string]string{"ISEED_NATS_URL": "nats://127.0.0.1:1", "ISEED_NATS_TLS_CERT": "c.pem"}, 2, "ISEED_NATS_TLS_KEY"},
		{"a missing NATS credentials file", map[string]string{"ISEED_NATS_URL": "nats://127.0.0.1:1", "ISEED_NATS_CREDS_FILE": "/nonexistent/iseed.creds"}, 2, "ISEED_NATS_CREDS_FILE"},
		{"a NATS credentials file", map[string]string{"ISEED_NATS_URL": "nats://127.0.0.1:1", "ISEED_NATS_CREDS_FILE": "testdata/iseed.creds"}, 0, "configuration valid"},
		{"a missing NATS CA file", map[string]string{"ISEED_NATS_URL": "nats://127.0.0.1:1", "ISEED_NATS_TLS_CA": "/nonexistent/ca.pem"}, 2, "ISEED_NATS_TLS_CA"},
		{"a missing client certificate", map[string]string{"ISEED_NATS_URL": "nats://127.0.0.1:1", "ISEED_NATS_TLS_CERT": "/nonexistent/c.pem", "ISEED_NATS_TLS_KEY": "/nonexistent/k.pem"}, 2, "ISEED_NATS_TLS_CERT"},
		{"a missing token file", map[string]string{"ISEED_VISENGINE_URL": "https://x.example", "ISEED_VISENGINE_TOKEN_FILE": "/nonexistent"}, 2, "ISEED_VISENGINE_TOKEN_FILE"},
		{"a recipients file that is not one", map[string]string{"ISEED_DOCUMENT_RECIPIENTS_FILE": "testdata/isee.json"}, 2, "ISEED_DOCUMENT_"},
		{"a document recipient", map[string]string{"ISEED_DOCUMENT_RECIPIENTS_FILE": "testdata/document-recipients"}, 0, "configuration valid"},
		{"a budgets file", map[string]string{"ISEED_BUDGETS_FILE": "testdata/budgets.json"}, 0, "configuration valid"},
		{"a budgets file that is not one", map[string]string{"ISEED_BUDGETS_FILE": "testdata/isee.json"}, 2, "ISEED_BUDGETS_FILE"},
		{"a missing budgets file", map[string]string{"ISEED_BUDGETS_FILE": "/nonexistent/budgets.json"}, 2, "ISEED_BUDGETS_FILE"},
		{"a missing tax-code key file", map[string]string{"ISEED_TAXCODE_KEY_FILE": "/nonexistent/taxcode.key"}, 2, "ISEED_TAXCODE_KEY_FILE"},
		{"a replay key file that is not a key", map[string]string{"ISEED_REPLAY_KEY_FILE": "testdata/isee.json"}, 2, "ISEED_REPLAY_KEY_FILE"},
		{"a missing callback key file, callbacks on", map[string]string{"ISEED_CALLBACK_KEY_FILE": "/nonexistent/callback.key"}, 2, "ISEED_CALLBACK_KEY_FILE"},
		{"a callback key file, callbacks off", map[string]string{"ISEED_CALLBACK_KEY_FILE": "/nonexistent/callback.key", "ISEED_SIM_CALLBACKS": "false"}, 0, "configuration valid"},
		{"key files", map[string]string{"ISEED_TAXCODE_KEY_FILE": "testdata/hmac.key", "ISEED_CALLBACK_KEY_FILE": "testdata/hmac.key", "ISEED_REPLAY_KEY_FILE": "testdata/hmac.key"}, 0, "configuration valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			t.Setenv("ISEED_DATA_DIR", dir)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, errOut, code := runCLI(t, "serve", "--check-config")
			if code != tt.code || !strings.Contains(out+errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tt.code, tt.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("--check-config created the data directory (%v)", err)
			}
		})
	}
}

// TestServeRefusesATakenDataDir starts `iseed serve` as a process, then a
// second on the same data directory: it fails at once, naming the first's PID.
func TestServeRefusesATakenDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	dir := t.TempDir()
	first := startDaemon(t, "ISEED_DATA_DIR="+dir, "ISEED_NATS_URL=", "ISEED_EMBEDDED_NATS_LISTEN=127.0.0.1:0", "ISEED_HTTP_LISTEN=127.0.0.1:0", "ISEED_LOG_LEVEL=warn")
	pid := fmt.Sprint(first.cmd.Process.Pid)
	waitUntil(t, 30*time.Second, "the first daemon to hold the lock", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, lockFile))
		return strings.TrimSpace(string(b)) == pid
	})
	t.Setenv("ISEED_DATA_DIR", dir)
	t.Setenv("ISEED_EMBEDDED_NATS_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	start := time.Now()
	_, errOut, code := runCLIFor(t, 10*time.Second, "serve") // bounded: a second serve that starts must not hang the test
	if took := time.Since(start); code != 2 || took > 2*time.Second || !strings.Contains(errOut, "in use by another iseed serve (pid "+pid+",") ||
		strings.Count(errOut, "\n") != 1 {
		t.Errorf("second serve: exit %d after %s, stderr %q; want 2 at once, naming pid %s", code, took, errOut, pid)
	}
}

// TestServeRefusesATakenAddress: a listener in use fails at once, naming
// the variable to change, before anything starts.
func TestServeRefusesATakenAddress(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	for _, variable := range []string{"ISEED_HTTP_LISTEN", "ISEED_EMBEDDED_NATS_LISTEN"} {
		t.Run(variable, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("ISEED_DATA_DIR", dir)
			t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_EMBEDDED_NATS_LISTEN", "127.0.0.1:0")
			t.Setenv(variable, addr)
			start := time.Now()
			_, errOut, code := runCLIFor(t, 10*time.Second, "serve")
			if took := time.Since(start); code != 2 || took > 2*time.Second || !strings.Contains(errOut, variable+"="+addr+" cannot be used") ||
				!strings.Contains(errOut, "set "+variable+" to a free address") {
				t.Errorf("exit %d after %s, stderr %q; want 2 at once naming %s", code, took, errOut, variable)
			}
			if _, err := os.Stat(filepath.Join(dir, "nats")); !os.IsNotExist(err) {
				t.Errorf("the embedded server started before the check (%v)", err)
			}
			// The lock was released: the data directory is free again.
			release, err := lockDataDir(dir)
			if err != nil {
				t.Fatalf("data directory still locked: %v", err)
			}
			release()
		})
	}
}

// runCLIFor is runCLI with a deadline: a command that should have failed at
// once but runs is stopped.
func runCLIFor(t *testing.T, d time.Duration, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var stdout, stderr pipetest.Buffer
	err := run(ctx, args, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), exitCode(err)
}

// TestServeWaitsForNATSAndStopsCleanly: with ISEED_NATS_URL unreachable,
// serve says so, naming the URL without its password, and keeps trying; a
// signal then is a stop (exit 0), not a failure.
func TestServeWaitsForNATSAndStopsCleanly(t *testing.T) {
	// A listener that never answers: NATS connects to nothing there, and no
	// other process can take the port meanwhile, as it could a closed one
	// (this test failed once beside other work on the machine).
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	addr := silent.Addr().String()
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_NATS_URL", "nats://iseed:s3cr3t@"+addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr pipetest.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serve's standard error:\n%s", stderr.String())
		}
	})
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, &stderr) }()
	want := "not connected to NATS at nats://xxxxx@" + addr
	waitUntil(t, 20*time.Second, "the warning naming the URL", func() bool { return strings.Contains(stderr.String(), want) })
	cancel() // what SIGTERM does
	select {
	case err := <-done:
		if code := exitCode(err); code != 0 {
			t.Errorf("exit %d (%v) on a signal while waiting for NATS; want 0", code, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop after the signal")
	}
	if s := stderr.String(); strings.Contains(s, "s3cr3t") || strings.Contains(s, "iseed serve:") {
		t.Errorf("stderr shows the password or an error line:\n%s", s)
	}
}
