package schema

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/nats-io/nats.go/jetstream"
)

// ObjectStoreSource opens references from JetStream Object Store buckets.
// The object's "Content-Type" header, when set, gives its media type.
//
// Links (objects that point at another object or bucket) are refused with
// ErrFileIsLink, never followed: a tenant may put in its own bucket a link
// to a bucket it cannot read (another tenant's files, iseed's documents),
// and iseed reads with its own credentials. The answer does not depend on
// the link's target, nor on whether it exists.
//
// An object whose info cannot be right (a malformed NUID, more chunks than
// its size fills at 1 KiB each, no SHA-256 digest, a size past 2^63) is
// refused as missing, wrapping errObjectInfo: the info is whatever the
// tenant wrote on its bucket's subjects.
//
// Open reads only the object's info. Reading fetches the chunks of that
// very object (its NUID) one at a time, so at most one chunk is held, and
// an object replaced, deleted or turned into a link meanwhile reads as an
// error wrapping ErrFileChanged, never as another object's content.
func ObjectStoreSource(js jetstream.JetStream) FileSource {
	return objectStore{js: js}
}

type objectStore struct {
	js jetstream.JetStream
}

// Open implements FileSource.
func (o objectStore) Open(ctx context.Context, bucket, name string) (io.ReadCloser, FileInfo, error) {
	store, err := o.js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrInvalidStoreName) {
		return nil, FileInfo{}, fmt.Errorf("%w: bucket %s: %w", ErrFileNotFound, bucket, err)
	}
	if err != nil {
		return nil, FileInfo{}, fmt.Errorf("schema: object store %s: %w", bucket, err)
	}
	info, err := store.GetInfo(ctx, name) // the object's own info: GetInfo never follows links
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, FileInfo{}, fmt.Errorf("%w: an object in %s: %w", ErrFileNotFound, bucket, err)
	}
	if err != nil {
		return nil, FileInfo{}, fmt.Errorf("schema: an object in %s: %w", bucket, err)
	}
	if info.Opts != nil && info.Opts.Link != nil {
		return nil, FileInfo{}, fmt.Errorf("%w: an object in %s", ErrFileIsLink, bucket)
	}
	if !validBucket(info.NUID) { // a NUID is [A-Za-z0-9]: it goes into a subject
		return nil, FileInfo{}, fmt.Errorf("%w: %w: an object in %s: malformed object info", ErrFileNotFound, errObjectInfo, bucket)
	}
	if uint64(info.Chunks) > maxChunks(info.Size) {
		return nil, FileInfo{}, fmt.Errorf("%w: %w: an object in %s: %d chunks for %d bytes", ErrFileNotFound, errObjectInfo, bucket, info.Chunks, info.Size)
	}
	// Every Object Store client records the size and the SHA-256 of what
	// it stores. Without them ResolveFiles would read the object to learn
	// them, and an info that counts a chunk its bucket lacks would read as
	// an object replaced meanwhile, on every delivery, until the
	// submission expired; a size past an int64's would read as an unknown
	// one, and every chunk counted would be read, however many.
	if _, ok := parseDigest(info.Digest); !ok || info.Size > math.MaxInt64 {
		return nil, FileInfo{}, fmt.Errorf("%w: %w: an object in %s: no SHA-256 digest, or a size past 2^63", ErrFileNotFound, errObjectInfo, bucket)
	}
	fi := FileInfo{Name: info.Name, ContentType: info.Headers.Get("Content-Type"), Size: int64(info.Size), Digest: info.Digest}
	return &objectReader{ctx: ctx, js: o.js, bucket: bucket, info: info}, fi, nil
}

// minChunkBytes is the smallest average chunk an object may have. Each
// chunk is one request to NATS, and an object's info is whatever its
// tenant wrote: one of 10 bytes in 100,000 empty chunks, with its digest
// declared (so that the check reads nothing), held a worker for a whole
// POST, reading chunks until the call's deadline, delivery after delivery.
// Object Store clients write chunks of 128 KiB unless told otherwise.
const minChunkBytes = 1 << 10

// maxChunks is the most chunks an object of size bytes may have: one per
// minChunkBytes, the last one partial.
func maxChunks(size uint64) uint64 { return size/minChunkBytes + min(size%minChunkBytes, 1) }

// The Object Store's layout (ADR-20, the same in every client): bucket B
// is stream OBJ_B, and the chunks of the object with NUID N are the
// messages on $O.B.C.N, in order.
const (
	objectStreamPrefix = "OBJ_"
	chunkSubjectFormat = "$O.%s.C.%s"
)

// objectReader reads one object's chunks, fetching each by subject after
// the last one read.
type objectReader struct {
	// ctx is Open's: the reader belongs to that call, as a request's body
	// belongs to its request. Kept to fetch the chunks.
	ctx    context.Context
	js     jetstream.JetStream
	bucket string
	info   *jetstream.ObjectInfo

	stream jetstream.Stream // nil until the first Read
	next   uint64           // the stream sequence to look for the next chunk from
	chunks uint32           // chunks read
	buf    []byte           // what is left of the current chunk
}

func (r *objectReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.chunks >= r.info.Chunks {
			return 0, io.EOF
		}
		if err := r.fetch(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// fetch reads the next chunk.
func (r *objectReader) fetch() error {
	if r.stream == nil {
		s, err := r.js.Stream(r.ctx, objectStreamPrefix+r.bucket)
		if err != nil {
			return fmt.Errorf("schema: object store %s: %w", r.bucket, err)
		}
		r.stream, r.next = s, 1
	}
	subject := fmt.Sprintf(chunkSubjectFormat, r.bucket, r.info.NUID)
	m, err := r.stream.GetMsg(r.ctx, r.next, jetstream.WithGetMsgSubject(subject))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("%w: an object in %s: chunk %d of %d is gone (the object was replaced or deleted)",
			ErrFileChanged, r.bucket, r.chunks+1, r.info.Chunks)
	}
	if err != nil {
		return fmt.Errorf("schema: an object in %s: chunk %d: %w", r.bucket, r.chunks+1, err)
	}
	r.next, r.buf = m.Sequence+1, m.Data
	r.chunks++
	return nil
}

// Close implements io.Closer. There is nothing to release: no consumer or
// subscription is made.
func (r *objectReader) Close() error { return nil }
