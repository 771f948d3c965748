package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestCloseIsNotADisconnect: a clean stop ends the log without a warning
// that iseed is reconnecting (nats.go calls the disconnect handler on a
// close too), and a lost connection still warns.
func TestCloseIsNotADisconnect(t *testing.T) {
	srv := cliEnv(t)
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c, err := connectNATS(cfg, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	c.close(5 * time.Second) // returns once the closed handler ran, after the disconnect handler
	if strings.Contains(logs.String(), "disconnected from NATS") {
		t.Errorf("a clean close logged %q", logs.String())
	}

	var lost bytes.Buffer
	reconnected := make(chan struct{})
	var once sync.Once
	c, err = connectNATS(cfg, zerolog.New(&lost).Hook(zerolog.HookFunc(func(_ *zerolog.Event, _ zerolog.Level, msg string) {
		if msg == "disconnected from NATS; reconnecting" {
			once.Do(func() { close(reconnected) })
		}
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close(time.Second)
	srv.Shutdown()
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatalf("a lost server logged no disconnect: %q", lost.String())
	}
}

// TestRefusedDocumentPutLogsNoFileName: a documents bucket whose $O
// subjects the server refuses to iseed (a tenant added without its grant
// in the NATS configuration) makes the client report a permissions
// violation naming the subject of the object's info, which holds the
// object's name in base64: tenant, submission and the upstream's file
// name, "DSU.<tax code>.pdf". The NATS client's error line must not carry
// it, in that form or any other.
func TestRefusedDocumentPutLogsNoFileName(t *testing.T) {
	t.Parallel()
	const taxCode = "RSSMRA80A01H501U"
	const bucket = "iseed_documents_newco"
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = -1, true, t.TempDir()
	opts.Users = []*server.User{{Username: "iseed", Password: "pw", Permissions: &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"$O." + bucket + ".>"}},
		Subscribe: &server.SubjectPermission{Allow: []string{">"}},
	}}}
	srv := natsserver.RunServer(&opts)
	t.Cleanup(srv.Shutdown)
	var logs pipetest.Buffer
	c, err := connectNATS(&Config{NATSURL: srv.ClientURL(), NATSUser: "iseed", NATSPassword: "pw"}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.close(time.Second) })
	js, err := jetstream.New(c.nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.CreateObjectStore(t.Context(), jetstream.ObjectStoreConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	name := "newco/emp-9/695ca03642f95e56/DSU." + taxCode + ".pdf"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	if _, err := obs.PutBytes(ctx, name, []byte("%PDF-1.4 attestazione ISEE")); err == nil {
		t.Fatal("put into a bucket the server refuses: got no error")
	}
	pipetest.WaitFor(t, 10*time.Second, "the violation on the object's info subject logged", func() bool {
		return strings.Count(logs.String(), "permissions violation") >= 2 // its chunk, then its info
	})
	for _, form := range []string{taxCode, name, base64.URLEncoding.EncodeToString([]byte(name)), base64.RawURLEncoding.EncodeToString([]byte(name))} {
		if strings.Contains(logs.String(), form) {
			t.Errorf("log carries the object's name (as %q): got %s, want it left out", form, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "$O."+bucket+".M.") {
		t.Errorf("log: got %s, want the refused subject named up to the object", logs.String())
	}
}

// TestEmbeddedStoreUnusable: an embedded server whose JetStream cannot
// use its store (ISEED_DATA_DIR/nats not a directory here; a volume not
// writable or full in a deployment) fails the start at once, saying so,
// rather than after a 30 s wait with a guess at a taken port.
func TestEmbeddedStoreUnusable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nats"), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, err := connectNATS(&Config{DataDir: dir, EmbeddedNATSListen: "127.0.0.1:0"}, zerolog.Nop())
	took := time.Since(start)
	if err == nil {
		c.close(time.Second)
		t.Fatal("embedded NATS started on a store that is a file: got no error")
	}
	if took > 10*time.Second || strings.Contains(err.Error(), "port") || !strings.Contains(err.Error(), "ISEED_DATA_DIR") ||
		!strings.Contains(err.Error(), "not a directory") {
		t.Errorf("after %v: got %q, want a prompt error naming ISEED_DATA_DIR and the store's trouble", took.Round(time.Millisecond), err)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)
}

// TestConnectErrorHidesCredentials: a URL in ISEED_NATS_URL that does not
// parse (here a password with a "/" not percent-encoded) fails the start,
// and the error, which ends in the log, must carry no part of the
// password: net/url quotes the URL whole, and its detail a piece of it.
func TestConnectErrorHidesCredentials(t *testing.T) {
	for _, u := range []string{"nats://iseed:s3cret/pass@127.0.0.1:4222", "nats://127.0.0.1:4222,nats://iseed:s3cret%zz@127.0.0.1:4223"} {
		_, err := connectNATS(&Config{NATSURL: u}, zerolog.Nop())
		if err == nil {
			t.Fatalf("%s: connected", u)
		}
		if strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "ISEED_NATS_URL") {
			t.Errorf("%s: got %q, want an error naming ISEED_NATS_URL without the password", u, err)
		}
	}
}

// TestStartupSaysWhyNATSRefuses: iseed serve waits for NATS at start
// (a cluster may come up after it), but a NATS that refuses iseed's
// credentials must be told from one that is down: each try says the
// connection's last error.
func TestStartupSaysWhyNATSRefuses(t *testing.T) {
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = -1, true, t.TempDir()
	opts.Users = []*server.User{{Username: "iseed", Password: "pw"}}
	srv := natsserver.RunServer(&opts)
	t.Cleanup(srv.Shutdown)
	startupSays(t, &Config{NATSURL: srv.ClientURL(), NATSUser: "iseed", NATSPassword: "wrong"}, "authorization violation", "wrong")
}

// startupSays starts a daemon's layout on cfg until a try's error says
// want (in any case), and checks that it does not quote secret.
func startupSays(t *testing.T, cfg *Config, want, secret string) {
	t.Helper()
	c, err := connectNATS(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.close(time.Second) })
	d := &daemon{cfg: cfg, log: zerolog.Nop(), conn: c}
	if d.js, err = jetstream.New(c.nc); err != nil {
		t.Fatal(err)
	}
	var last error
	pipetest.WaitExplained(t, 10*time.Second, "a start-up try to say "+want, func() bool {
		_, last = d.ensureLayout(t.Context())
		return last != nil && strings.Contains(strings.ToLower(last.Error()), want)
	}, func() string { return fmt.Sprintf("last try: %v", last) })
	if strings.Contains(last.Error(), secret) {
		t.Errorf("got %q, which quotes the password", last)
	}
}

// TestStartupSaysWhyNATSIsUnreachable: a start-up waiting for a NATS
// that cannot be reached says why at each try (the refused connection of
// an address where nothing listens, as README.md's Start-up says), not
// only "not connected": nats.go keeps no LastError of a failed dial while
// it retries, so iseed keeps the one its reconnect handler is given.
func TestStartupSaysWhyNATSIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: each dial is refused
	startupSays(t, &Config{NATSURL: "nats://iseed:s3cret@" + addr}, "connection refused", "s3cret")
}
