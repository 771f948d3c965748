package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// natsConn is a connection to NATS and, on the embedded defaults, the
// in-process server behind it.
type natsConn struct {
	nc       *nats.Conn
	embedded *server.Server
	// failed is the last try to connect that failed (a refused dial, a
	// TLS handshake): nats.go keeps no LastError of it while it retries.
	failed atomic.Pointer[error]
}

// lastError says why the connection is not up, when the client knows:
// its last error, else the last failed try's; nil when neither says.
func (c *natsConn) lastError() error {
	if err := c.nc.LastError(); err != nil {
		return err
	}
	if err := c.failed.Load(); err != nil {
		return *err
	}
	return nil
}

// connectNATS connects to ISEED_NATS_URL, or starts the embedded server
// when it is empty.
func connectNATS(cfg *Config, log zerolog.Logger) (*natsConn, error) {
	c := &natsConn{}
	opts := []nats.Option{
		nats.Name("iseed " + version),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() { // nats.go calls this on a close too: nothing reconnects
				return
			}
			log.Warn().Err(err).Msg("disconnected from NATS; reconnecting")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.failed.Store(nil)
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("reconnected to NATS")
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) { c.failed.Store(&err) }),
		nats.ErrorHandler(asyncErrorLogger(log)),
	}
	if cfg.NATSURL == "" {
		return startEmbedded(cfg, log, opts, c)
	}
	auth, err := authOptions(cfg)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(cfg.NATSURL, append(opts, append(auth, nats.RetryOnFailedConnect(true))...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s (ISEED_NATS_URL): %w", redactedURLs(cfg.NATSURL), connectError(err))
	}
	c.nc = nc
	return c, nil
}

// redactedURLs is ISEED_NATS_URL (a comma-separated list) with any
// password replaced, for a log line.
func redactedURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if u, err := url.Parse(p); err == nil && u.User != nil {
			u.User = url.User("xxxxx") // a user name may be a token: hide it too
			p = u.String()
		} else if err != nil {
			p = "(unreadable URL)"
		}
		parts[i] = p
	}
	return strings.Join(parts, ",")
}

// natsURLsParse reports whether nats.Connect can parse every URL of urls,
// a comma-separated list ("" is none: the embedded server), as it does: a
// URL without a scheme is taken as nats://.
func natsURLsParse(urls string) bool {
	for u := range strings.SplitSeq(urls, ",") {
		if u = strings.TrimSpace(u); u == "" {
			continue
		}
		if !strings.Contains(u, "://") {
			u = "nats://" + u
		}
		if _, err := url.Parse(u); err != nil {
			return false
		}
	}
	return true
}

// connectError is an error of nats.Connect fit for a log line. A URL that
// does not parse is reported by net/url quoted whole, credentials and all,
// and with a detail that may quote a piece of them (`invalid port
// ":s3cret" after host`): only what to do is said.
func connectError(err error) error {
	var bad *url.Error
	if errors.As(err, &bad) {
		return errors.New("a URL does not parse: percent-encode the user name and password in it " +
			"(or set ISEED_NATS_USER and ISEED_NATS_PASSWORD instead)")
	}
	return err
}

// asyncErrorLogger logs what the NATS client reports asynchronously, which
// nothing else tells: above all a slow consumer, a subscription whose
// buffer was full, so that the client dropped messages (they come back
// after AckWait, late). A few lines a minute at most. Subjects are logged
// without the object names in them (redactSubjects).
func asyncErrorLogger(log zerolog.Logger) nats.ErrHandler {
	rare := log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute})
	return func(_ *nats.Conn, sub *nats.Subscription, err error) {
		ev := rare.Warn().Str(zerolog.ErrorFieldName, redactSubjects(err.Error()))
		if sub != nil {
			ev = ev.Str("subscription", redactSubjects(sub.Subject))
		}
		ev.Msg("NATS client error")
	}
}

// objectInfoSubject matches the subject of an object's info in an object
// store, $O.<bucket>.M.<name>, up to the name, which follows in base64: a
// permissions violation names it (a tenant's documents bucket without its
// grant). A document's name ends with the upstream's file name, which may
// name the person ("DSU.<tax code>.pdf").
var objectInfoSubject = regexp.MustCompile(`(\$O\.[^.\s"]+\.M\.)[A-Za-z0-9_=-]+`)

// redactSubjects replaces the object names in the subjects s quotes with
// "…".
func redactSubjects(s string) string { return objectInfoSubject.ReplaceAllString(s, "${1}…") }

func authOptions(cfg *Config) ([]nats.Option, error) {
	var o []nats.Option
	if cfg.NATSCredsFile != "" {
		creds := nats.UserCredentials(cfg.NATSCredsFile)
		if err := loads(creds, "ISEED_NATS_CREDS_FILE"); err != nil {
			return nil, err
		}
		o = append(o, creds)
	}
	if cfg.NATSNKeyFile != "" {
		nk, err := nats.NkeyOptionFromSeed(cfg.NATSNKeyFile)
		if err != nil {
			return nil, fmt.Errorf("ISEED_NATS_NKEY_FILE: %w", err)
		}
		o = append(o, nk)
	}
	if cfg.NATSUser != "" {
		o = append(o, nats.UserInfo(cfg.NATSUser, cfg.NATSPassword))
	}
	if cfg.NATSToken != "" {
		o = append(o, nats.Token(cfg.NATSToken))
	}
	if cfg.NATSTLSCA != "" {
		ca := nats.RootCAs(cfg.NATSTLSCA)
		if err := loads(ca, "ISEED_NATS_TLS_CA"); err != nil {
			return nil, err
		}
		o = append(o, ca)
	}
	if (cfg.NATSTLSCert == "") != (cfg.NATSTLSKey == "") {
		return nil, errors.New("set both ISEED_NATS_TLS_CERT and ISEED_NATS_TLS_KEY for a client certificate")
	}
	if cfg.NATSTLSCert != "" {
		cert := nats.ClientCert(cfg.NATSTLSCert, cfg.NATSTLSKey)
		if err := loads(cert, "ISEED_NATS_TLS_CERT and ISEED_NATS_TLS_KEY"); err != nil {
			return nil, err
		}
		o = append(o, cert)
	}
	return o, nil
}

// loads applies a file-reading option to a scratch nats.Options, reading
// its file now (a credentials file only when its JWT is asked for), so
// that a missing or unreadable one is a configuration error naming its
// variable, not a connection failure.
func loads(opt nats.Option, variable string) error {
	var scratch nats.Options
	err := opt(&scratch)
	if err == nil && scratch.UserJWT != nil {
		_, err = scratch.UserJWT()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", variable, err)
	}
	return nil
}

// startEmbedded runs a JetStream-enabled nats-server in this process,
// storing in ISEED_DATA_DIR/nats and listening on ISEED_EMBEDDED_NATS_LISTEN
// so the nats CLI and other programs can connect, and connects c to it
// with opts.
func startEmbedded(cfg *Config, log zerolog.Logger, opts []nats.Option, c *natsConn) (*natsConn, error) {
	host, portStr, err := net.SplitHostPort(cfg.EmbeddedNATSListen)
	if err != nil {
		return nil, fmt.Errorf("ISEED_EMBEDDED_NATS_LISTEN must be host:port, got %q", cfg.EmbeddedNATSListen)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("ISEED_EMBEDDED_NATS_LISTEN port: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "iseed-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(cfg.DataDir, "nats"),
		NoSigs:     true,
		MaxPayload: 8 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded NATS: %w", err)
	}
	var fatal fatalLogger
	s.SetLoggerV2(&fatal, false, false, false)
	s.Start()
	for deadline := time.Now().Add(30 * time.Second); !s.ReadyForConnections(100 * time.Millisecond); {
		if msg := fatal.message(); msg != "" {
			s.Shutdown()
			return nil, fmt.Errorf("embedded NATS did not start: %s (its store is ISEED_DATA_DIR/nats, %s; its listener ISEED_EMBEDDED_NATS_LISTEN)",
				msg, filepath.Join(cfg.DataDir, "nats"))
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("embedded NATS did not start on %s (is the port taken? set ISEED_EMBEDDED_NATS_LISTEN)", cfg.EmbeddedNATSListen)
		}
	}
	nc, err := nats.Connect(s.ClientURL(), append(opts, nats.InProcessServer(s))...)
	if err != nil {
		s.Shutdown()
		return nil, fmt.Errorf("connect to embedded NATS: %w", err)
	}
	log.Info().Str("url", s.ClientURL()).Str("store", filepath.Join(cfg.DataDir, "nats")).Msg("embedded NATS server started (set ISEED_NATS_URL to use a cluster)")
	c.nc, c.embedded = nc, s
	return c, nil
}

// fatalLogger keeps the embedded server's first fatal error and drops
// everything else it logs. The server stops starting after one (JetStream
// cannot use its store: a data directory not writable, or full) without
// ever listening; unseen, it would look like a port that never opened.
type fatalLogger struct {
	mu    sync.Mutex
	first string
}

func (l *fatalLogger) Fatalf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == "" {
		l.first = fmt.Sprintf(format, v...)
	}
}

func (l *fatalLogger) message() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first
}

func (*fatalLogger) Noticef(string, ...any) {}
func (*fatalLogger) Warnf(string, ...any)   {}
func (*fatalLogger) Errorf(string, ...any)  {}
func (*fatalLogger) Debugf(string, ...any)  {}
func (*fatalLogger) Tracef(string, ...any)  {}

// close drains the connection (flushing pending publishes) and stops the
// embedded server.
func (c *natsConn) close(timeout time.Duration) {
	if c.nc != nil && !c.nc.IsClosed() {
		done := make(chan struct{})
		c.nc.SetClosedHandler(func(*nats.Conn) { close(done) })
		if err := c.nc.Drain(); err != nil {
			c.nc.Close()
		} else {
			select {
			case <-done:
			case <-time.After(timeout):
				c.nc.Close()
			}
		}
	}
	if c.embedded != nil {
		c.embedded.Shutdown()
		c.embedded.WaitForShutdown()
	}
}
