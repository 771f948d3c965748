package objread

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultAPIPrefix is the JetStream API prefix of Read's requests unless
// APIPrefix says otherwise.
const DefaultAPIPrefix = "$JS.API"

// Errors of a damaged object or one Read will not read. Errors of an
// object that is missing or deleted wrap jetstream.ErrObjectNotFound.
var (
	// ErrLink: the object is a link to another object or bucket. Read does
	// not follow links (iseed never stores them).
	ErrLink = errors.New("objread: the object is a link")
	// ErrMissingChunk: a chunk the object's info counts is not in the
	// stream (the object was replaced, deleted or damaged meanwhile, or a
	// replica answering lags behind).
	ErrMissingChunk = errors.New("objread: a chunk of the object is missing")
	// ErrSizeMismatch: the chunks add up to another size than the info's.
	ErrSizeMismatch = errors.New("objread: size mismatch")
	// ErrDigestMismatch: the chunks' SHA-256 digest is not the info's.
	ErrDigestMismatch = errors.New("objread: digest mismatch")
	// ErrBadAnswer: a direct get's answer lacks a header a JetStream
	// server sets, or is a message on another subject or from an earlier
	// sequence than asked for.
	ErrBadAnswer = errors.New("objread: unexpected direct get answer")
)

// The Object Store's layout (ADR-20, the same in every client): bucket B
// is stream OBJ_B; the info of the object named N is the last message on
// $O.B.M.<N in padded base64url>, its chunks the messages on $O.B.C.<NUID>
// in order; the digest is "SHA-256=" and the padded base64url of the sum.
const (
	streamFormat      = "OBJ_%s"
	metaSubjectFormat = "$O.%s.M.%s"
	chunkSubject      = "$O.%s.C.%s"
	statusHeader      = "Status" // nats.go's header for a status-only answer
	statusNotFound    = "404"
)

// Option changes how Read makes its requests.
type Option func(*config)

type config struct {
	api string
}

// APIPrefix sets the prefix of the direct-get subjects, "$JS.API" by
// default: "$JS.<domain>.API" for a JetStream domain, or the prefix under
// which an account imports the two direct-get subjects. A trailing dot is
// ignored.
func APIPrefix(p string) Option {
	return func(c *config) { c.api = strings.TrimSuffix(p, ".") }
}

// Read reads object name of Object Store bucket with JetStream direct gets only
// (no consumer), writes its bytes to w, checks size and SHA-256 digest against the
// object's info, and returns the info.
//
// The chunks are written to w as they arrive: on an error w may hold part
// of the object, never more bytes than the info's size. Errors name the
// bucket, never the object. ctx bounds every request and should carry a
// deadline.
func Read(ctx context.Context, nc *nats.Conn, bucket, name string, w io.Writer, opts ...Option) (*jetstream.ObjectInfo, error) {
	cfg := config{api: DefaultAPIPrefix}
	for _, o := range opts {
		o(&cfg)
	}
	if !validToken(bucket) {
		return nil, fmt.Errorf("objread: invalid bucket name %q", bucket)
	}
	if name == "" {
		return nil, fmt.Errorf("objread: bucket %s: empty object name", bucket)
	}
	r := reader{nc: nc, bucket: bucket, api: cfg.api + ".DIRECT.GET." + fmt.Sprintf(streamFormat, bucket)}
	info, err := r.info(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := r.copy(ctx, info, w); err != nil {
		return nil, err
	}
	return info, nil
}

// reader makes the direct gets of one bucket.
type reader struct {
	nc     *nats.Conn
	bucket string
	api    string // <prefix>.DIRECT.GET.OBJ_<bucket>
}

// info reads the object's info, the last message on its meta subject.
func (r reader) info(ctx context.Context, name string) (*jetstream.ObjectInfo, error) {
	subject := fmt.Sprintf(metaSubjectFormat, r.bucket, base64.URLEncoding.EncodeToString([]byte(name)))
	m, err := r.get(ctx, r.api+"."+subject, nil, subject)
	if errors.Is(err, errNotFound) {
		return nil, fmt.Errorf("objread: bucket %s: the object: %w", r.bucket, jetstream.ErrObjectNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("objread: bucket %s: the object's info: %w", r.bucket, err)
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(m.Data, &info); err != nil {
		// The JSON error is left out: it may quote the info, which names the object.
		return nil, fmt.Errorf("objread: bucket %s: the object's info does not decode: %w", r.bucket, jetstream.ErrBadObjectMeta)
	}
	switch {
	case info.Deleted:
		return nil, fmt.Errorf("objread: bucket %s: the object is deleted: %w", r.bucket, jetstream.ErrObjectNotFound)
	case info.Opts != nil && info.Opts.Link != nil:
		return nil, fmt.Errorf("objread: bucket %s: %w", r.bucket, ErrLink)
	case info.Bucket != r.bucket || info.Name != name || !validToken(info.NUID):
		return nil, fmt.Errorf("objread: bucket %s: the object's info names another object or a malformed NUID: %w", r.bucket, jetstream.ErrBadObjectMeta)
	}
	// As nats.go's GetInfo: the modification time is the info message's.
	if info.ModTime, err = time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer)); err != nil {
		return nil, fmt.Errorf("objread: bucket %s: the object's info has no valid %s header: %w", r.bucket, jetstream.TimeStampHeaer, ErrBadAnswer)
	}
	return &info, nil
}

// chunkRequest is the body of a direct get of the next message on a
// subject from a sequence on.
type chunkRequest struct {
	Seq     uint64 `json:"seq"`
	NextFor string `json:"next_by_subj"`
}

// copy reads the object's chunks in order, writes them to w and checks
// their size and digest.
func (r reader) copy(ctx context.Context, info *jetstream.ObjectInfo, w io.Writer) error {
	subject := fmt.Sprintf(chunkSubject, r.bucket, info.NUID)
	sum := sha256.New()
	var size uint64
	next := uint64(1) // stream sequences start at 1
	for i := uint32(1); i <= info.Chunks; i++ {
		n, seq, err := r.chunk(ctx, subject, next, info.Size-size, w, sum)
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("objread: bucket %s: chunk %d of %d of the object: %w", r.bucket, i, info.Chunks, ErrMissingChunk)
		}
		if err != nil {
			return fmt.Errorf("objread: bucket %s: chunk %d of %d of the object: %w", r.bucket, i, info.Chunks, err)
		}
		size, next = size+n, seq+1
	}
	if size != info.Size {
		return fmt.Errorf("objread: bucket %s: the object's chunks hold %d bytes, its info says %d: %w", r.bucket, size, info.Size, ErrSizeMismatch)
	}
	if got := jetstream.GetObjectDigestValue(sum); got != info.Digest {
		return fmt.Errorf("objread: bucket %s: the object's chunks have digest %s, its info says %q: %w", r.bucket, got, info.Digest, ErrDigestMismatch)
	}
	return nil
}

// chunk reads the first message on subject from sequence from on, which
// may hold at most left bytes, and writes it to w and sum. It returns the
// message's size and sequence.
func (r reader) chunk(ctx context.Context, subject string, from, left uint64, w io.Writer, sum hash.Hash) (uint64, uint64, error) {
	body, err := json.Marshal(chunkRequest{Seq: from, NextFor: subject})
	if err != nil {
		return 0, 0, err
	}
	m, err := r.get(ctx, r.api, body, subject)
	if err != nil {
		return 0, 0, err
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil || seq < from {
		return 0, 0, fmt.Errorf("%w: a missing or earlier %s header", ErrBadAnswer, jetstream.SequenceHeader)
	}
	n := uint64(len(m.Data))
	if n > left {
		return 0, 0, fmt.Errorf("the chunks exceed the object's size: %w", ErrSizeMismatch)
	}
	sum.Write(m.Data)
	if err := write(w, m.Data); err != nil {
		return 0, 0, fmt.Errorf("writing: %w", err)
	}
	return n, seq, nil
}

// errNotFound is a direct get's 404: no message matches.
var errNotFound = errors.New("no such message")

// get makes a direct get and checks that the answer is a message on
// subject want.
func (r reader) get(ctx context.Context, subject string, body []byte, want string) (*nats.Msg, error) {
	m, err := r.nc.RequestMsgWithContext(ctx, &nats.Msg{Subject: subject, Data: body})
	if err != nil {
		return nil, err
	}
	if status := m.Header.Get(statusHeader); status != "" && len(m.Data) == 0 {
		if status == statusNotFound {
			return nil, errNotFound
		}
		return nil, fmt.Errorf("direct get answered %s %s", status, m.Header.Get("Description"))
	}
	if got := m.Header.Get(jetstream.SubjectHeader); got != want {
		return nil, fmt.Errorf("%w: a message on another subject", ErrBadAnswer)
	}
	return m, nil
}

// write writes all of p to w.
func write(w io.Writer, p []byte) error {
	n, err := w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// validToken reports whether s is a non-empty name of letters, digits,
// '-' and '_', as bucket names and NUIDs are: it goes into a subject.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}
