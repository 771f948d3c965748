// Package natstest starts an embedded JetStream-enabled nats-server for tests.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Server is a running test server with one client connection.
type Server struct {
	*server.Server
	Opts *server.Options
	NC   *nats.Conn
	JS   jetstream.JetStream
}

// Run starts a server on a random port with JetStream in a temporary
// directory, connects to it, and stops both when the test ends.
func Run(t testing.TB) *Server {
	t.Helper()
	opts := natsserver.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	return RunWithOptions(t, &opts)
}

// RunWithOptions starts a server with opts and connects to it.
func RunWithOptions(t testing.TB, opts *server.Options) *Server {
	t.Helper()
	s := natsserver.RunServer(opts)
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		s.Shutdown()
		t.Fatalf("connect to test server: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	t.Cleanup(func() {
		nc.Close()
		s.Shutdown()
		s.WaitForShutdown()
	})
	return &Server{Server: s, Opts: opts, NC: nc, JS: js}
}
