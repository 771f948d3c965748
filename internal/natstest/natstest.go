package natstest

import (
	"net"
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
	s := &Server{Server: natsserver.RunServer(opts), Opts: opts}
	// Pin the port so that Stop and Start bring the server back where clients look.
	s.Opts.Port = s.Server.Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		s.Shutdown()
		t.Fatalf("connect to test server: %v", err)
	}
	s.NC = nc
	if s.JS, err = jetstream.New(nc); err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	t.Cleanup(func() {
		nc.Close()
		s.Stop()
	})
	return s
}

// Stop shuts the server down; clients keep trying to reconnect.
func (s *Server) Stop() {
	s.Server.Shutdown()
	s.Server.WaitForShutdown()
}

// Start starts a stopped server again on the same port and store directory.
func (s *Server) Start() {
	s.Server = natsserver.RunServer(s.Opts)
}
