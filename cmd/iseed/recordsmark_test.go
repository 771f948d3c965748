package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go/jetstream"
)

// TestServeRefusesALostRecordsBucket starts serve, stops it, loses the
// records bucket behind its back and starts it again: it refuses at once
// (exit 2, one line saying what is gone and how to go on) and creates
// nothing; ISEED_ACCEPT_NEW_RECORDS naming the lost bucket starts it once,
// on a new bucket it then records; a restart with everything there starts.
func TestServeRefusesALostRecordsBucket(t *testing.T) {
	tests := []struct {
		name     string
		external bool // a server of the test's; else the embedded one
		lose     func(*testing.T, lossWorld)
		has      func(*testing.T, lossWorld) bool // the records stream exists
	}{
		{"a bucket deleted on the cluster", true, deleteRecords, hasRecordsOn},
		{"a bucket made anew on the cluster", true, recreateRecords, hasRecordsOn},
		{"the embedded server's store wiped", false, wipeStore, hasRecordsIn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := lossWorld{dir: dir}
			env := []string{"ISEED_NATS_URL=", "ISEED_EMBEDDED_NATS_LISTEN=127.0.0.1:0"}
			if tt.external {
				w.srv = natstest.Run(t)
				env = []string{"ISEED_NATS_URL=" + w.srv.ClientURL()}
			}
			for _, kv := range append(env, "ISEED_DATA_DIR="+dir, "ISEED_HTTP_LISTEN=127.0.0.1:0",
				"ISEED_CALLBACK_LISTEN=127.0.0.1:0", "ISEED_SIM_CALLBACKS=false", "ISEED_ACCEPT_NEW_RECORDS=") {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			serveUntilStarted(t) // a fresh data directory: starts, records
			first := markedCreated(t, dir)
			serveUntilStarted(t) // everything there: starts
			tt.lose(t, w)
			_, errOut, code := runCLIFor(t, 30*time.Second, "serve")
			created := first.UTC().Format(time.RFC3339Nano)
			if code != 2 || refusals(errOut) != 1 ||
				!strings.Contains(errOut, "KV_iseed_submissions, created at "+created) || !strings.Contains(errOut, "could pay again") ||
				!strings.Contains(errOut, "ISEED_ACCEPT_NEW_RECORDS="+created+" for one start") {
				t.Fatalf("serve after the loss: exit %d, stderr %q; want 2, one line naming the bucket, its creation time and the override", code, errOut)
			}
			if tt.name != "a bucket made anew on the cluster" && tt.has(t, w) {
				t.Fatal("the refused start created the records bucket")
			}
			t.Setenv("ISEED_ACCEPT_NEW_RECORDS", created)
			if log := serveUntilStarted(t); !strings.Contains(log, `"level":"error"`) ||
				!strings.Contains(log, "ISEED_ACCEPT_NEW_RECORDS: starting on a new, empty records bucket") {
				t.Errorf("the override's start logs no error saying what it accepted:\n%s", log)
			}
			second := markedCreated(t, dir)
			if !tt.has(t, w) || second.Equal(first) {
				t.Fatalf("after the override: bucket there %v, recorded %s (was %s); want a new one recorded", tt.has(t, w), second, first)
			}
			if log := serveUntilStarted(t); !strings.Contains(log, "ISEED_ACCEPT_NEW_RECORDS is set, but names no records bucket lost") {
				t.Errorf("the override left set: no warning to remove it:\n%s", log)
			}
			tt.lose(t, w)
			if _, errOut, code := runCLIFor(t, 30*time.Second, "serve"); code != 2 || !strings.Contains(errOut, "does not name it") {
				t.Errorf("a second loss with the old override set: exit %d, stderr %q; want 2: the override is for one loss", code, errOut)
			}
		})
	}
}

// refusals counts the lines of stderr (the log's and the error's) that
// are the refusal.
func refusals(stderr string) int {
	n := 0
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "iseed serve: the records bucket is gone: ") {
			n++
		}
	}
	return n
}

// serveUntilStarted runs iseed serve in-process until it has started,
// then stops it as SIGTERM does; it returns the log.
func serveUntilStarted(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr pipetest.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, &stderr) }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(stderr.String(), `"iseed started"`) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve ended before it started: %v\n%s", err, stderr.String())
		case <-deadline:
			cancel()
			<-done
			t.Fatalf("serve did not start:\n%s", stderr.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
	cancel()
	// A component still starting when stopped may say it was cancelled
	// (before consumer.Pipeline.RunHolds took that for a stop, it did): not
	// what this test is about.
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("serve stopped with %v\n%s", err, stderr.String())
	}
	return stderr.String()
}

// TestServeRefusesAnUnreadableRecordsMarker: a marker that does not parse
// could have named a bucket that is gone: serve refuses, before it
// creates anything, and says what to do.
func TestServeRefusesAnUnreadableRecordsMarker(t *testing.T) {
	srv := cliEnv(t)
	dir := os.Getenv("ISEED_DATA_DIR")
	if err := os.WriteFile(filepath.Join(dir, recordsMarkFile), []byte("{\"streams\": {\"KV_iseed_subm"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLIFor(t, 30*time.Second, "serve")
	if code != 2 || !strings.Contains(errOut, "records.json does not parse") || !strings.Contains(errOut, "docs/operations.md") {
		t.Errorf("exit %d, stderr %q; want 2, saying the marker does not parse", code, errOut)
	}
	if _, err := srv.JS.Stream(context.Background(), "KV_iseed_submissions"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("records stream after the refusal: %v; want none created", err)
	}
}

func markedCreated(t *testing.T, dir string) time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, recordsMarkFile))
	if err != nil {
		t.Fatal(err)
	}
	var m recordsMark
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	s, ok := m.Streams["KV_iseed_submissions"]
	if !ok || s.Created.IsZero() {
		t.Fatalf("marker %s: no creation time for KV_iseed_submissions", b)
	}
	return s.Created
}

// lossWorld is where one case loses its records bucket.
type lossWorld struct {
	dir string
	srv *natstest.Server // nil on the embedded server
}

func deleteRecords(t *testing.T, w lossWorld) {
	if err := w.srv.JS.DeleteKeyValue(context.Background(), "iseed_submissions"); err != nil {
		t.Fatal(err)
	}
}

func recreateRecords(t *testing.T, w lossWorld) {
	deleteRecords(t, w)
	if _, err := w.srv.JS.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "iseed_submissions"}); err != nil {
		t.Fatal(err)
	}
}

func hasRecordsOn(t *testing.T, w lossWorld) bool {
	_, err := w.srv.JS.Stream(context.Background(), "KV_iseed_submissions")
	if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatal(err)
	}
	return err == nil
}

// wipeStore loses the embedded server's store, as a lost volume does,
// keeping the rest of the data directory.
func wipeStore(t *testing.T, w lossWorld) {
	if err := os.RemoveAll(filepath.Join(w.dir, "nats")); err != nil {
		t.Fatal(err)
	}
}

func hasRecordsIn(t *testing.T, w lossWorld) bool {
	_, err := os.Stat(filepath.Join(w.dir, "nats", "jetstream", "$G", "streams", "KV_iseed_submissions"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestServeRecordsTheBucketOfAnEarlierVersion: an upgrade finds the
// buckets an earlier version made and no marker: serve starts, and records
// the bucket that is there, not a new one.
func TestServeRecordsTheBucketOfAnEarlierVersion(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	if _, err := layout.Ensure(ctx, srv.JS, layout.Layout{}); err != nil {
		t.Fatal(err)
	}
	s, err := srv.JS.Stream(ctx, "KV_iseed_submissions")
	if err != nil {
		t.Fatal(err)
	}
	serveUntilStarted(t)
	if got, want := markedCreated(t, os.Getenv("ISEED_DATA_DIR")), s.CachedInfo().Created; !got.Equal(want) {
		t.Errorf("recorded creation time %s, want the existing bucket's %s", got, want)
	}
}
