package natstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
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

	asyncErrs atomic.Int64
	lastAsync atomic.Pointer[string]
}

// AsyncErrors returns how many asynchronous errors the client connection
// reported (a slow consumer drops messages; nothing else tells) and the
// last one, for failure messages.
func (s *Server) AsyncErrors() (int64, string) {
	if last := s.lastAsync.Load(); last != nil {
		return s.asyncErrs.Load(), *last
	}
	return 0, ""
}

func (s *Server) noteAsync(_ *nats.Conn, sub *nats.Subscription, err error) {
	msg := err.Error()
	if sub != nil {
		msg += " on " + sub.Subject
	}
	s.lastAsync.Store(&msg)
	s.asyncErrs.Add(1)
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
	nc, err := nats.Connect(s.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ErrorHandler(s.noteAsync))
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

// Connect connects to url (a server, a proxy, a cluster's URLs joined by
// commas) with JetStream, failing the test if it cannot; the caller closes.
func Connect(t testing.TB, url string, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// LoseConsumer deletes the one consumer of stream, as the failure of the
// cluster node that held it would lose it while its client stays
// connected; it fails t unless the stream has exactly one (what is
// watched, and nothing else).
func (s *Server) LoseConsumer(t testing.TB, stream string) {
	t.Helper()
	ctx := context.Background()
	st, err := s.JS.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range st.ConsumerNames(ctx).Name() {
		names = append(names, name)
	}
	if len(names) != 1 {
		t.Fatalf("consumers of %s: %v, want the watch's alone", stream, names)
	}
	if err := st.DeleteConsumer(ctx, names[0]); err != nil {
		t.Fatal(err)
	}
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

// ClusterOptions are the options of an n-node JetStream cluster on
// loopback (nodes n1, n2, …, each with its own store), for a test that
// starts its nodes itself, one by one.
func ClusterOptions(t testing.TB, n int) []*server.Options {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		ports[i] = routePort(t)
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	nodes := make([]*server.Options, n)
	for i := range nodes {
		opts := natsserver.DefaultTestOptions
		opts.Port = -1
		opts.ServerName = fmt.Sprintf("n%d", i+1)
		opts.JetStream = true
		opts.StoreDir = t.TempDir()
		opts.Cluster = server.ClusterOpts{Name: "iseed-test", Host: "127.0.0.1", Port: ports[i]}
		opts.Routes = routes
		nodes[i] = &opts
	}
	return nodes
}

// routePort returns a port free now, for a node's routes, below Linux's
// ephemeral range (32768 up): a port listened on at ":0" comes from that
// range, as does the local port of every connection a test makes, and
// one taken so between its pick and the node's listen left the node never
// ready (seen once in 36 CI runs). Below it, only another test's pick of
// the same port, among 12,000, can take it.
func routePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(12000)
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port for a node's routes in 100 tries between 20000 and 32000")
	return 0
}

// RunCluster starts a fresh three-node JetStream cluster in process (nodes
// n1, n2, n3, each with its own store) and returns each node's client URL
// once the cluster has a JetStream meta leader, as when iseed is deployed
// on a running cluster. The nodes stop when the test ends.
func RunCluster(t testing.TB) []string {
	t.Helper()
	var urls []string
	for _, s := range RunClusterNodes(t) {
		urls = append(urls, s.ClientURL())
	}
	return urls
}

// RunClusterNodes is RunCluster for a test that stops nodes: it returns the
// running servers, n1 first.
func RunClusterNodes(t testing.TB) []*server.Server {
	t.Helper()
	var nodes []*server.Server
	for attempt := 1; nodes == nil; attempt++ {
		var err error
		if nodes, err = startNodes(ClusterOptions(t, 3)); err != nil {
			// ClusterOptions picks free route ports and closes them; another
			// test may still take one before the node listens there
			// (routePort), and the node never becomes ready.
			if attempt == 3 {
				t.Fatalf("start a three-node cluster, 3 attempts: %v", err)
			}
			t.Logf("start a three-node cluster: %v; again, on other ports", err)
		}
	}
	var urls []string
	for _, s := range nodes {
		t.Cleanup(s.Shutdown)
		urls = append(urls, s.ClientURL())
	}
	nc, js := Connect(t, strings.Join(urls, ","))
	defer nc.Close()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return nodes
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster's JetStream has no meta leader after 30s: %v", err)
		}
	}
}

// startNodes starts a node for each of opts, all of them or none.
func startNodes(opts []*server.Options) ([]*server.Server, error) {
	var nodes []*server.Server
	for _, o := range opts {
		s, err := startNode(o)
		if err != nil {
			for _, n := range nodes {
				n.Shutdown()
			}
			return nil, err
		}
		nodes = append(nodes, s)
	}
	return nodes, nil
}

// startNode is natsserver.RunServer, returning an error where it panics
// (a node not ready for connections within 10 s), with the node shut down.
func startNode(o *server.Options) (s *server.Server, err error) {
	var made *server.Server
	defer func() {
		if r := recover(); r != nil {
			if made != nil {
				made.Shutdown()
			}
			s, err = nil, fmt.Errorf("node %s: %v", o.ServerName, r)
		}
	}()
	return natsserver.RunServerCallback(o, func(n *server.Server) { made = n }), nil
}

// KeepStreamsDir makes a stream no test uses, for a test that deletes a
// stream (or a bucket) and makes it anew at once. When an account's last
// stream is deleted, nats-server removes the account's empty streams
// directory in the background, and a stream created meanwhile can fail
// with "error creating store for stream" (10049, "could not create
// storage directory" in the server's log). A deployment never deletes its
// last stream: iseed's layout has several.
func (s *Server) KeepStreamsDir(t testing.TB) {
	t.Helper()
	cfg := jetstream.StreamConfig{Name: "natstest_keep", Subjects: []string{"natstest.keep"}}
	// A minute, as pipetest gives the layout: nats.go's default 5 s per
	// request, which a stream's creation has exceeded on two cores shared
	// with other tests.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.JS.CreateStream(ctx, cfg); err != nil {
		t.Fatalf("keep the streams directory: %v", err)
	}
}

// ConsumerNode is the name of the node that leads the one consumer of
// stream that has delivered a message (an ordered consumer: its only
// replica). nats.go may leave others behind, made while the cluster was
// slow to answer, which deliver nothing.
func ConsumerNode(t testing.TB, js jetstream.JetStream, stream string) string {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var nodes []string
		var err error
		if st, serr := js.Stream(ctx, stream); serr != nil {
			err = serr
		} else {
			lister := st.ListConsumers(ctx)
			for ci := range lister.Info() {
				if ci.Cluster != nil && ci.Delivered.Consumer > 0 {
					nodes = append(nodes, ci.Cluster.Leader)
				}
			}
			err = lister.Err()
		}
		if len(nodes) == 1 && nodes[0] != "" {
			return nodes[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumers of %s by node: %v (%v), want one", stream, nodes, err)
		}
	}
}

// ConsumerAwayFrom starts a follower of stream (start returns once it has
// delivered a message, and returns its stop) until the ordered consumer
// it makes is led by a node other than own, the one its connection is to,
// whose failure would take the connection with it; the consumers of each
// follower stopped for that are deleted (a stopped ordered consumer stays
// a while). It returns the node that leads the consumer, and the stop of
// the follower that runs.
func ConsumerAwayFrom(t testing.TB, js jetstream.JetStream, stream, own string, start func() (stop func())) (holder string, stop func()) {
	t.Helper()
	ctx := context.Background()
	for range 20 {
		stop = start()
		if holder = ConsumerNode(t, js, stream); holder != own {
			return holder, stop
		}
		stop()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		for name := range st.ConsumerNames(ctx).Name() {
			if err := st.DeleteConsumer(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatalf("the consumer of %s was made on %s 20 times", stream, own)
	return "", nil
}

// StopNode shuts down the node of nodes named name.
func StopNode(nodes []*server.Server, name string) {
	for _, n := range nodes {
		if n.Name() == name {
			n.Shutdown()
		}
	}
}

// Retry calls f, each call given up to try, until it succeeds or 30 s have
// passed (then fails t, saying what): for a write to a cluster that has
// no leader for the stream yet, or no longer (its node failed).
func Retry(t testing.TB, what string, try time.Duration, f func(ctx context.Context) error) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), try)
		err := f(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
	}
}
