package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
)

// TestServeExitsWhenJetStreamRefusesTheLayout: a layout JetStream refuses
// for good (a setting the server or the account never accepts) ends serve
// at once with exit 2, the server's words, the stream and the variable to
// change, instead of "JetStream layout not ready" until someone looks.
func TestServeExitsWhenJetStreamRefusesTheLayout(t *testing.T) {
	tests := []struct {
		name    string
		server  func(*server.Options)
		env     map[string]string
		before  map[string]string // a first serve, with these variables, started and stopped first; nil for none
		refusal string            // the server's words
		want    []string          // in the error, with refusal
	}{
		{"a duplicate window over the server's limit",
			func(o *server.Options) { o.JetStreamLimits.Duplicates = time.Minute }, nil, nil,
			"duplicates window can not be larger then server limit of 1m0s",
			[]string{"stream ISEED_SUBMISSIONS", "ISEED_DEDUP_WINDOW"}},
		{"replicas on a server that is not clustered",
			nil, map[string]string{"ISEED_REPLICAS": "3"}, nil,
			"replicas > 1 not supported in non-clustered mode",
			[]string{"stream ISEED_SUBMISSIONS", "ISEED_REPLICAS"}},
		{"storage changed after the streams were made",
			nil, map[string]string{"ISEED_STORAGE": "memory"}, map[string]string{"ISEED_STORAGE": "file"},
			"stream configuration update can not change storage type",
			[]string{"stream ISEED_SUBMISSIONS", "ISEED_STORAGE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := natsserver.DefaultTestOptions
			opts.Port = -1
			opts.JetStream = true
			opts.StoreDir = t.TempDir()
			if tt.server != nil {
				tt.server(&opts)
			}
			srv := natstest.RunWithOptions(t, &opts)
			t.Setenv("ISEED_NATS_URL", srv.ClientURL())
			t.Setenv("ISEED_DATA_DIR", t.TempDir())
			t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
			t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
			if tt.before != nil {
				for k, v := range tt.before {
					t.Setenv(k, v)
				}
				s := startServe(t)
				waitUntil(t, 60*time.Second, "the first serve to start", func() bool { return strings.Contains(s.stderr.String(), "iseed started") })
				s.stop(t)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			s := startServe(t)
			const notReady = "JetStream layout not ready"
			var err error
			exited := false
			waitUntil(t, 60*time.Second, "serve to exit, or to retry what JetStream refused", func() bool {
				select {
				case err = <-s.done:
					exited = true
				default:
				}
				out := s.stderr.String()
				return exited || strings.Contains(out, notReady) && strings.Contains(out, tt.refusal)
			})
			if !exited {
				t.Fatalf("serve retries a layout JetStream refuses for good; want exit 2 at once\n%s", s.stderr.String())
			}
			if code := exitCode(err); code != 2 {
				t.Errorf("exit %d (%v); want 2", code, err)
			}
			for _, w := range append([]string{tt.refusal}, tt.want...) {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("got error %v; want one mentioning %q", err, w)
				}
			}
		})
	}
}

// TestServeRetriesATransientRefusal: a cluster that is not whole yet
// answers "JetStream system temporarily unavailable" (10008): serve waits
// for it, and starts once the last node is up, as replicas started with
// their cluster do.
func TestServeRetriesATransientRefusal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	nodes := natstest.ClusterOptions(t, 3)
	var urls []string
	for _, o := range nodes[:2] {
		s := natsserver.RunServer(o)
		t.Cleanup(s.Shutdown)
		urls = append(urls, s.ClientURL())
	}
	t.Setenv("ISEED_NATS_URL", strings.Join(urls, ","))
	t.Setenv("ISEED_REPLICAS", "3")
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	s := startServe(t)
	const unavailable = "err_code=10008"
	waitUntil(t, 60*time.Second, "serve to be refused as the cluster is not whole", func() bool {
		return strings.Contains(s.stderr.String(), unavailable) || len(s.done) > 0
	})
	third := natsserver.RunServer(nodes[2])
	t.Cleanup(third.Shutdown)
	deadline := time.After(90 * time.Second)
	for !strings.Contains(s.stderr.String(), "iseed started") {
		select {
		case err := <-s.done:
			t.Fatalf("serve exited on a refusal of a cluster not whole yet: exit %d (%v); want it to wait and start\n%s", exitCode(err), err, s.stderr.String())
		case <-deadline:
			t.Fatalf("serve not started 90 s after the cluster was whole\n%s", s.stderr.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
	s.stop(t)
}

// startServe runs serve in this process with the environment as set.
func startServe(t *testing.T) *servedThrough {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedThrough{done: make(chan error, 1), stderr: &pipetest.Buffer{}, cancel: cancel}
	finished := make(chan struct{})
	t.Cleanup(func() { cancel(); <-finished })
	var stdout pipetest.Buffer
	go func() {
		defer close(finished)
		s.done <- run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, s.stderr)
	}()
	return s
}
