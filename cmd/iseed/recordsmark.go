package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// recordsMarkFile, in ISEED_DATA_DIR, remembers the records streams this
// replica has worked with: the submission records are what keep a repeated
// or replayed submission from being paid for again, and layout.Ensure would
// quietly make an empty bucket in place of one that is gone.
const recordsMarkFile = "records.json"

// recordsMark is the content of recordsMarkFile: one entry per records
// stream (one per ISEED_SUBJECT_PREFIX), by stream name.
type recordsMark struct {
	Streams map[string]markedStream `json:"streams"`
}

// markedStream is what identifies one records stream: its name and its
// creation time (kept by the server across restarts; on a cluster, part of
// the stream's assignment). Where it was found is noted for the operator.
type markedStream struct {
	Created  time.Time `json:"created"`
	NATS     string    `json:"nats"`              // ISEED_NATS_URL without passwords, or the embedded store
	Cluster  string    `json:"cluster,omitempty"` // the NATS cluster's name, if any
	Server   string    `json:"server,omitempty"`  // the server iseed was connected to
	Recorded time.Time `json:"recorded"`
}

// recordsGuard refuses to start where the records stream this data
// directory remembers is gone, or was made anew, and remembers the stream
// once the layout exists.
type recordsGuard struct {
	path   string // ISEED_DATA_DIR/records.json
	stream string // the records stream of the configured prefix
	nats   string // where NATS is, for the marker and the message
	accept string // ISEED_ACCEPT_NEW_RECORDS: the creation time of a lost stream to give up
	log    zerolog.Logger
}

// newRecordsGuard returns the guard of cfg, or nil on the embedded server
// with memory storage, whose streams end with the process by choice.
func newRecordsGuard(cfg *Config, log zerolog.Logger) *recordsGuard {
	where := redactedURLs(cfg.NATSURL)
	if cfg.NATSURL == "" {
		if cfg.Storage == "memory" {
			return nil
		}
		where = "embedded, store " + filepath.Join(cfg.DataDir, "nats")
	}
	return &recordsGuard{path: filepath.Join(cfg.DataDir, recordsMarkFile), stream: layoutOf(cfg).WithDefaults().RecordsStream(),
		nats: where, accept: cfg.AcceptNewRecords, log: log.With().Str("component", "serve").Logger()}
}

// errRecordsGone is the class of the refusal: the records stream a data
// directory remembers is missing or was recreated.
var errRecordsGone = errors.New("the records bucket is gone")

// check runs before layout.Ensure creates anything. It fails permanently
// (a configuration error) when the remembered stream is gone or was made
// anew, unless ISEED_ACCEPT_NEW_RECORDS names its creation time; it fails,
// to be retried, when NATS does not answer.
func (g *recordsGuard) check(ctx context.Context, js jetstream.JetStream) error {
	mark, err := readRecordsMark(g.path)
	if err != nil {
		return backoff.Permanent(configError(err))
	}
	was, ok := mark.Streams[g.stream]
	if !ok {
		return nil // a first start, or an upgrade: recorded after Ensure
	}
	now, err := g.created(ctx, js)
	if err != nil {
		return err
	}
	if !now.IsZero() && now.Equal(was.Created) {
		return nil
	}
	if g.accepts(was) {
		g.log.Error().Str("stream", g.stream).Str("lost_created", was.Created.UTC().Format(time.RFC3339Nano)).Str("lost_nats", was.NATS).
			Msg("ISEED_ACCEPT_NEW_RECORDS: starting on a new, empty records bucket in place of the one recorded: " +
				"a submission the lost bucket held may now be paid for again; remove ISEED_ACCEPT_NEW_RECORDS")
		return nil
	}
	return backoff.Permanent(configError(g.refusal(was, now)))
}

// created returns the creation time of the records stream, or zero when
// NATS says there is none: asked three times over two seconds, so that a
// cluster still settling after a restart is not taken for an empty one.
func (g *recordsGuard) created(ctx context.Context, js jetstream.JetStream) (time.Time, error) {
	for try := 0; ; try++ {
		s, err := js.Stream(ctx, g.stream)
		if err == nil {
			return s.CachedInfo().Created, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return time.Time{}, fmt.Errorf("records stream %s: %w", g.stream, err)
		}
		if try == 2 {
			return time.Time{}, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// accepts reports whether ISEED_ACCEPT_NEW_RECORDS gives up the stream was.
func (g *recordsGuard) accepts(was markedStream) bool {
	t, err := time.Parse(time.RFC3339Nano, g.accept)
	return err == nil && t.Equal(was.Created)
}

// refusal says what is gone, why iseed does not start, and how to go on.
func (g *recordsGuard) refusal(was markedStream, now time.Time) error {
	created := was.Created.UTC().Format(time.RFC3339Nano)
	from := was.NATS
	if was.Cluster != "" {
		from += ", cluster " + was.Cluster
	}
	what := "is not on NATS (" + g.nats + ")"
	if !now.IsZero() {
		what = fmt.Sprintf("was deleted and made anew: NATS (%s) has one created at %s", g.nats, now.UTC().Format(time.RFC3339Nano))
	}
	wrong := ""
	if g.accept != "" {
		wrong = fmt.Sprintf(" (ISEED_ACCEPT_NEW_RECORDS=%s does not name it)", g.accept)
	}
	return fmt.Errorf("%w: the submission records stream %s, created at %s (on NATS %s; recorded in %s), %s. "+
		"Started on an empty bucket, iseed could pay again for a submission already paid for, when it is repeated or replayed. "+
		"Check ISEED_NATS_URL and ISEED_SUBJECT_PREFIX, or restore the stream from a backup (docs/operations.md); "+
		"to start on an empty bucket deliberately, set ISEED_ACCEPT_NEW_RECORDS=%s for one start%s",
		errRecordsGone, g.stream, created, from, g.path, what, created, wrong)
}

// record remembers the records stream, once layout.Ensure has made or
// found it, written atomically. Failing to write is a configuration
// error: ISEED_DATA_DIR must be writable.
func (g *recordsGuard) record(ctx context.Context, js jetstream.JetStream, nc *nats.Conn) error {
	s, err := js.Stream(ctx, g.stream)
	if err != nil {
		return fmt.Errorf("records stream %s: %w", g.stream, err)
	}
	created := s.CachedInfo().Created
	mark, err := readRecordsMark(g.path)
	if err != nil {
		return configError(err)
	}
	was, ok := mark.Streams[g.stream]
	if g.accept != "" && !(ok && g.accepts(was)) {
		g.log.Warn().Str("stream", g.stream).Msg("ISEED_ACCEPT_NEW_RECORDS is set, but names no records bucket lost: nothing accepted; remove the variable")
	}
	if ok && was.Created.Equal(created) {
		return nil
	}
	mark.Streams[g.stream] = markedStream{Created: created, NATS: g.nats, Cluster: nc.ConnectedClusterName(),
		Server: nc.ConnectedServerName(), Recorded: time.Now().UTC()}
	if err := writeRecordsMark(g.path, mark); err != nil {
		return configError(fmt.Errorf("ISEED_DATA_DIR: %w", err))
	}
	g.log.Info().Str("stream", g.stream).Str("created", created.UTC().Format(time.RFC3339Nano)).Str("file", g.path).
		Msg("records bucket recorded: a later start refuses if it is gone or made anew")
	return nil
}

// readRecordsMark reads the marker; a missing one is empty.
func readRecordsMark(path string) (recordsMark, error) {
	mark := recordsMark{Streams: map[string]markedStream{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return mark, nil
	}
	if err != nil {
		return mark, fmt.Errorf("ISEED_DATA_DIR: %w", err)
	}
	if err := json.Unmarshal(b, &mark); err != nil || mark.Streams == nil {
		return mark, fmt.Errorf("ISEED_DATA_DIR: %s does not parse (%v): it names the records streams iseed worked with; restore it, or remove it deliberately (docs/operations.md)", path, err)
	}
	return mark, nil
}

// writeRecordsMark writes the marker beside path, syncs it and renames it
// into place: a crash leaves the old marker or the new, never a part.
func writeRecordsMark(path string, mark recordsMark) error {
	b, err := json.MarshalIndent(mark, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".records-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, nothing is there
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
