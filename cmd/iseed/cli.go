package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// cliConn is what the operator commands use: a connection to the running
// system (ISEED_NATS_URL, or the daemon's embedded server), the layout's
// names and, when bound, its resources. Operator commands never create or
// update streams or buckets: that is `iseed serve`'s, with its settings.
type cliConn struct {
	cfg    *Config
	nc     *nats.Conn
	js     jetstream.JetStream
	layout layout.Layout
	res    *layout.Resources // nil unless bound
	closed chan struct{}     // closed once the connection's callbacks have all run
}

// openCLI connects; with bind, it also binds to the existing layout. What
// the connection reports asynchronously goes to stderr (asyncErrors).
func openCLI(ctx context.Context, stderr io.Writer, bind bool, extra ...nats.Option) (*cliConn, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, configError(err)
	}
	url := cfg.NATSURL
	var opts []nats.Option
	if url == "" {
		url = "nats://" + cfg.EmbeddedNATSListen // the daemon's embedded server
	} else if opts, err = authOptions(cfg); err != nil {
		return nil, configError(err)
	}
	closed := make(chan struct{})
	opts = append(opts, nats.Name("iseed cli"), nats.Timeout(5*time.Second),
		asyncErrors(stderr), nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil && cfg.NATSURL == "" {
		return nil, fmt.Errorf("connect to NATS at %s (is `iseed serve` running? one started with another ISEED_EMBEDDED_NATS_LISTEN, "+
			"or with ISEED_NATS_URL, is reached with the same value set here): %w", url, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s (ISEED_NATS_URL): %w", redactedURLs(url), connectError(err)) // never its credentials
	}
	c := &cliConn{cfg: cfg, nc: nc, layout: layoutOf(cfg), closed: closed}
	if c.js, err = jetstream.New(nc); err != nil {
		c.close()
		return nil, err
	}
	if bind {
		if c.res, err = layout.Open(ctx, c.js, c.layout); err != nil {
			c.close()
			return nil, err
		}
		c.layout = c.res.Layout
	}
	return c, nil
}

// close closes the connection and waits for its callbacks: nats.go runs
// them on a goroutine of its own, and a report of asyncErrors must be on
// stderr before the command's own error, and never after the command.
func (c *cliConn) close() {
	c.nc.Close()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second): // stderr blocked: the command ends anyway
	}
}

// asyncErrors says on w, in iseed's words and once per kind, what the NATS
// connection reports asynchronously (nats.go would print it raw on the
// process's stderr: "nats: permissions violation … on connection [64]").
// It only reports: the connection's LastError, which submit explains,
// and a refused subscription's own error are left as they are. The kinds
// said are the connection's, so each command says its own.
func asyncErrors(w io.Writer) nats.Option {
	var mu sync.Mutex
	said := map[string]bool{}
	return nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
		kind, line := describeAsyncError(sub, err)
		mu.Lock()
		defer mu.Unlock()
		if !said[kind] {
			said[kind] = true
			fmt.Fprintln(w, line)
		}
	})
}

// violation reads the subject out of the server's words for a permissions
// violation ("Permissions Violation for Subscription to \"_INBOX.x.*\""):
// nats.go passes them on as text only, and reads them the same way.
var violation = regexp.MustCompile(`for (Subscription|Publish) to "(\S+)"`)

// describeAsyncError is the line for err and the kind it is said once
// for. A refusal's kind is the permission the credentials lack, so a
// command refused one reply subscription after another says it once.
func describeAsyncError(sub *nats.Subscription, err error) (kind, line string) {
	m := violation.FindStringSubmatch(err.Error())
	if !errors.Is(err, nats.ErrPermissionViolation) || m == nil {
		if sub != nil {
			return err.Error(), fmt.Sprintf("iseed: the NATS connection reported, on the subscription to %s: %v", sub.Subject, err)
		}
		return err.Error(), fmt.Sprintf("iseed: the NATS connection reported: %v", err)
	}
	verb, subject, lacks := "publish to", m[2], m[2]
	if m[1] == "Subscription" {
		verb = "subscribe to"
		if strings.HasPrefix(subject, nats.InboxPrefix) { // the CLI sets no other prefix
			lacks = nats.InboxPrefix + "> (the command's reply subjects)"
		}
	}
	return verb + " " + lacks, fmt.Sprintf("iseed: NATS refused to let this command %s %s (a permissions violation): "+
		"these credentials lack the permission to %s %s; docs/security.md, \"What each NATS user may do\", lists each user's", verb, subject, verb, lacks)
}

// replayKey is the key the daemon signs replays with: its file, or the one
// the daemon generated in the keys bucket (never created here). A key
// whose id is not the one the daemon noted is refused: the pipeline would
// take its replays for ordinary messages, and the replayed letters would
// be gone with nothing reopened.
func (c *cliConn) replayKey(ctx context.Context) ([]byte, error) {
	key, from, err := c.readReplayKey(ctx)
	if err != nil {
		return nil, err
	}
	e, err := c.res.Keys.Get(ctx, replayKeyIDName)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return key, nil // a daemon from before the id was noted
	}
	if err != nil {
		return nil, fmt.Errorf("the replay key's id (%s in %s): %w", replayKeyIDName, c.res.Layout.KeysBucket(), err)
	}
	if string(e.Value()) != dlq.KeyID(key) {
		return nil, configError(fmt.Errorf("%s is not the key iseed serve signs replays with (%s in %s names another): "+
			"its replays would be taken as ordinary messages; set ISEED_REPLAY_KEY_FILE to the daemon's key file, or leave it unset when the daemon has none",
			from, replayKeyIDName, c.res.Layout.KeysBucket()))
	}
	return key, nil
}

// readReplayKey reads the command's replay key and says where from.
func (c *cliConn) readReplayKey(ctx context.Context) (key []byte, from string, err error) {
	if c.cfg.ReplayKeyFile != "" {
		key, err = readKeyFile(c.cfg.ReplayKeyFile, "ISEED_REPLAY_KEY_FILE")
		return key, "ISEED_REPLAY_KEY_FILE's key", err
	}
	from = fmt.Sprintf("the key %s in %s", replayKeyName, c.res.Layout.KeysBucket())
	e, err := c.res.Keys.Get(ctx, replayKeyName)
	if err != nil {
		return nil, from, fmt.Errorf("the replay key (%s in %s): %w; set ISEED_REPLAY_KEY_FILE to the daemon's", replayKeyName, c.res.Layout.KeysBucket(), err)
	}
	return e.Value(), from, nil
}
