package main

import (
	"context"
	"errors"
	"fmt"
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
}

// openCLI connects; with bind, it also binds to the existing layout.
func openCLI(ctx context.Context, bind bool, extra ...nats.Option) (*cliConn, error) {
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
	nc, err := nats.Connect(url, append(append(opts, nats.Name("iseed cli"), nats.Timeout(5*time.Second)), extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s (is `iseed serve` running?): %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	c := &cliConn{cfg: cfg, nc: nc, js: js, layout: layoutOf(cfg)}
	if bind {
		if c.res, err = layout.Open(ctx, js, c.layout); err != nil {
			nc.Close()
			return nil, err
		}
		c.layout = c.res.Layout
	}
	return c, nil
}

func (c *cliConn) close() { c.nc.Close() }

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
