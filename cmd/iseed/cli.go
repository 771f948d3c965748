package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
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
func openCLI(ctx context.Context, bind bool) (*cliConn, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	url := cfg.NATSURL
	var opts []nats.Option
	if url == "" {
		url = "nats://" + cfg.EmbeddedNATSListen // the daemon's embedded server
	} else if opts, err = authOptions(cfg); err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("iseed cli"), nats.Timeout(5*time.Second))...)
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
// the daemon generated in the keys bucket (never created here).
func (c *cliConn) replayKey(ctx context.Context) ([]byte, error) {
	if c.cfg.ReplayKeyFile != "" {
		return readKeyFile(c.cfg.ReplayKeyFile, "ISEED_REPLAY_KEY_FILE")
	}
	e, err := c.res.Keys.Get(ctx, replayKeyName)
	if err != nil {
		return nil, fmt.Errorf("the replay key (%s in %s): %w; set ISEED_REPLAY_KEY_FILE to the daemon's", replayKeyName, c.res.Layout.KeysBucket(), err)
	}
	return e.Value(), nil
}

// runSubmit publishes a submission event from a file.
func runSubmit(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "submit", "[--tenant T] FILE\n\nPublishes the submission event in FILE (- for standard input) and prints its id.")
	tenant := fs.String("tenant", "default", "tenant: the last token of the submissions subject")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: 2}
	}
	if !record.ValidToken(*tenant) {
		return &exitError{code: 2, err: fmt.Errorf("--tenant must be letters, digits, _ or -, got %q", *tenant)}
	}
	data, err := readInput(e, fs.Arg(0))
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	sub, err := consumer.DecodeSubmission(data)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	c, err := openCLI(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	m := nats.NewMsg(c.layout.SubmissionSubject(*tenant))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, publisher.SubmissionMsgID(*tenant, sub.ID, sub.Fingerprint()))
	if _, err := c.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish (does the stream exist? start `iseed serve` first): %w", err)
	}
	_, err = fmt.Fprintln(e.stdout, sub.ID)
	return err
}

// maxInput bounds a submission file: NATS would refuse a larger message anyway.
const maxInput = 8 << 20

func readInput(e *env, path string) ([]byte, error) {
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err == nil && len(b) > maxInput {
		err = fmt.Errorf("%s is larger than %d bytes: put large files in the object store and reference them", path, maxInput)
	}
	return b, err
}

// runStatus prints a submission's record and its events.
func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "status", "[--tenant T] ID\n\nPrints the submission's record (timeline, upstream request, document) and its events as JSON.")
	tenant := fs.String("tenant", "default", "tenant")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return &exitError{code: 2}
	}
	c, err := openCLI(ctx, true)
	if err != nil {
		return err
	}
	defer c.close()
	rec, _, err := record.NewStore(c.res.Records).Get(ctx, *tenant, fs.Arg(0))
	if errors.Is(err, record.ErrNotFound) {
		return &exitError{code: 1, err: fmt.Errorf("no submission %q for tenant %q", fs.Arg(0), *tenant)}
	}
	if err != nil {
		return err
	}
	events, err := publisher.ReadEvents(ctx, c.js, c.res.Layout.EventsStream(), c.res.Layout.Events(), *tenant, fs.Arg(0))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Record *record.Record    `json:"record"`
		Events []json.RawMessage `json:"events"`
	}{rec, events})
}

// runDLQ lists and replays dead letters.
func runDLQ(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "dlq", "list [--tenant T] [--reason R] | replay SEQ... | replay --reason R [--tenant T]\n\nLists dead letters, or replays them to their original subject. Replays never send a submission twice.")
	tenant := fs.String("tenant", "", "only this tenant")
	reason := fs.String("reason", "", "only this reason (e.g. insufficient_credit)")
	if len(args) == 0 {
		fs.Usage()
		return &exitError{code: 2}
	}
	verb := args[0]
	if verb == "-h" || verb == "--help" {
		fs.Usage()
		return flag.ErrHelp
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := openCLI(ctx, true)
	if err != nil {
		return err
	}
	defer c.close()
	key, err := c.replayKey(ctx)
	if err != nil {
		return err
	}
	q := dlq.NewQueue(c.js, c.res, key, consumer.ReplayMsgID(c.res.Layout))
	switch verb {
	case "list":
		return dlqList(ctx, e, q, dlq.Filter{Tenant: *tenant, Reason: *reason})
	case "replay":
		return dlqReplay(ctx, e, q, fs.Args(), dlq.Filter{Tenant: *tenant, Reason: *reason})
	default:
		return &exitError{code: 2, err: fmt.Errorf("unknown dlq command %q: use list or replay", verb)}
	}
}

func dlqList(ctx context.Context, e *env, q *dlq.Queue, f dlq.Filter) error {
	dls, err := q.List(ctx, f)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%-6s %-10s %-24s %-20s %-8s %s\n", "SEQ", "TENANT", "SUBMISSION", "REASON", "ATTEMPTS", "LAST FAILURE")
	for _, d := range dls {
		fmt.Fprintf(e.stdout, "%-6d %-10s %-24s %-20s %-8d %s\n", d.Seq, d.Tenant, d.SubmissionID, d.Reason, d.Attempts, d.LastFailure.Format(time.RFC3339))
	}
	return nil
}

func dlqReplay(ctx context.Context, e *env, q *dlq.Queue, seqs []string, f dlq.Filter) error {
	var targets []uint64
	for _, s := range seqs {
		var n uint64
		if _, err := fmt.Sscan(s, &n); err != nil || n == 0 {
			return &exitError{code: 2, err: fmt.Errorf("not a dead-letter sequence: %q", s)}
		}
		targets = append(targets, n)
	}
	if len(targets) == 0 {
		if f.Reason == "" {
			return &exitError{code: 2, err: errors.New("name dead letters by sequence, or select them with --reason R (and optionally --tenant T)")}
		}
		dls, err := q.List(ctx, f)
		if err != nil {
			return err
		}
		for _, d := range dls {
			targets = append(targets, d.Seq)
		}
	}
	for _, seq := range targets {
		if err := q.Replay(ctx, seq); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "replayed %d\n", seq)
	}
	return nil
}
