package objread_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iseed-dev/iseed/objread"
)

const (
	bucket    = "iseed_documents_acme"
	chunkSize = 16
	// A name like iseed's: it ends in the upstream's file name, which may
	// carry a tax code. No error may show it.
	secretName = "req-1/RSSMRA80A01H501U_isee.pdf"
)

// runJetStream starts an embedded server with JetStream and returns a
// connection to it.
func runJetStream(t *testing.T) *nats.Conn {
	t.Helper()
	opts := natsserver.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	srv := natsserver.RunServer(&opts)
	t.Cleanup(srv.Shutdown)
	return connect(t, srv.ClientURL())
}

func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newBucket creates the documents bucket as iseed does, and returns it
// with its stream.
func newBucket(t *testing.T, nc *nats.Conn) (jetstream.ObjectStore, jetstream.Stream) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.CreateObjectStore(t.Context(), jetstream.ObjectStoreConfig{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), "OBJ_"+bucket)
	if err != nil {
		t.Fatal(err)
	}
	return obs, stream
}

func put(t *testing.T, obs jetstream.ObjectStore, name string, data []byte) *jetstream.ObjectInfo {
	t.Helper()
	meta := jetstream.ObjectMeta{Name: name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunkSize}}
	info, err := obs.Put(t.Context(), meta, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// content returns n bytes that differ from those of another seed.
func content(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func read(t *testing.T, nc *nats.Conn, name string, opts ...objread.Option) ([]byte, *jetstream.ObjectInfo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var buf bytes.Buffer
	info, err := objread.Read(ctx, nc, bucket, name, &buf, opts...)
	return buf.Bytes(), info, err
}

type object struct {
	name string
	data []byte
}

// putInterleaved puts the objects at the same time, one chunk of each in
// turn, so that their chunks alternate in the stream: a reader that took
// the message after a chunk for the next chunk would read another
// object's.
func putInterleaved(t *testing.T, obs jetstream.ObjectStore, stream jetstream.Stream, objs ...object) {
	t.Helper()
	type result struct {
		name string
		err  error
	}
	results := make(chan result, len(objs))
	writers := make([]*io.PipeWriter, len(objs))
	defer func() { // on a failure, let the puts return (no effect after Close)
		for _, w := range writers {
			if w != nil {
				w.CloseWithError(errors.New("the test failed"))
			}
		}
	}()
	for i, o := range objs {
		pr, pw := io.Pipe()
		writers[i] = pw
		go func() {
			meta := jetstream.ObjectMeta{Name: o.name, Opts: &jetstream.ObjectMetaOptions{ChunkSize: chunkSize}}
			_, err := obs.Put(t.Context(), meta, pr)
			pr.CloseWithError(fmt.Errorf("put returned: %v", err)) // unblocks our writes if Put gave up
			results <- result{o.name, err}
		}()
	}
	last := lastSeq(t, stream)
	for off := 0; ; off += chunkSize {
		wrote := false
		for i, o := range objs {
			if off >= len(o.data) {
				continue
			}
			if _, err := writers[i].Write(o.data[off:min(off+chunkSize, len(o.data))]); err != nil {
				t.Fatalf("writing a chunk of %s: %v", o.name, err)
			}
			last++
			waitLastSeq(t, stream, last) // the chunk is stored before the next object's
			wrote = true
		}
		if !wrote {
			break
		}
	}
	for _, w := range writers {
		w.Close()
	}
	for range objs {
		if r := <-results; r.err != nil {
			t.Fatalf("put %s: %v", r.name, r.err)
		}
	}
}

func lastSeq(t *testing.T, stream jetstream.Stream) uint64 {
	t.Helper()
	si, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return si.State.LastSeq
}

// waitLastSeq polls until the stream's last sequence is want.
func waitLastSeq(t *testing.T, stream jetstream.Stream, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := lastSeq(t, stream)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			t.Fatalf("stream's last sequence: got %d, want %d", got, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// chunkSeqs returns the stream sequences of the object's chunks.
func chunkSeqs(t *testing.T, stream jetstream.Stream, info *jetstream.ObjectInfo) []uint64 {
	t.Helper()
	subject := "$O." + bucket + ".C." + info.NUID
	var seqs []uint64
	for seq := uint64(1); len(seqs) < int(info.Chunks); seq++ {
		m, err := stream.GetMsg(t.Context(), seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			t.Fatalf("chunk %d of %s: %v", len(seqs)+1, info.Name, err)
		}
		seqs = append(seqs, m.Sequence)
		seq = m.Sequence
	}
	return seqs
}

// writes records the size of each Write.
type writes struct {
	bytes.Buffer
	sizes []int
}

func (w *writes) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return w.Buffer.Write(p)
}

func TestReadRoundTrip(t *testing.T) {
	nc := runJetStream(t)
	obs, stream := newBucket(t, nc)

	// A and B alternate; then A is replaced while four more are put.
	putInterleaved(t, obs, stream,
		object{"a", content(1, 3*chunkSize+8)},
		object{"b", content(2, 5*chunkSize)})
	want := []struct {
		object
		chunks uint32
	}{
		{object{"a", content(3, 2*chunkSize+5)}, 3},
		{object{"b", content(2, 5*chunkSize)}, 5},
		{object{"empty", nil}, 0},
		{object{"one byte", []byte{42}}, 1},
		{object{"one chunk", content(4, chunkSize)}, 1},
		{object{secretName, content(5, 4*chunkSize+1)}, 5},
	}
	putInterleaved(t, obs, stream, want[0].object, want[2].object, want[3].object, want[4].object, want[5].object)

	// The premise: B's chunks are not next to each other in the stream.
	binfo, err := obs.GetInfo(t.Context(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if seqs := chunkSeqs(t, stream, binfo); seqs[1] == seqs[0]+1 {
		t.Fatalf("b's chunks at sequences %v: want them interleaved with a's", seqs)
	}

	for _, tc := range want {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var w writes
			info, err := objread.Read(ctx, nc, bucket, tc.name, &w)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if !bytes.Equal(w.Bytes(), tc.data) {
				t.Errorf("bytes: got %x, want %x", w.Bytes(), tc.data)
			}
			if info.Chunks != tc.chunks {
				t.Errorf("chunks: got %d, want %d", info.Chunks, tc.chunks)
			}
			if len(w.sizes) != int(tc.chunks) {
				t.Errorf("writes: got %v, want one per chunk (%d)", w.sizes, tc.chunks)
			}
			for _, n := range w.sizes {
				if n > chunkSize {
					t.Errorf("a write of %d bytes: want at most a chunk, %d", n, chunkSize)
				}
			}
			wantInfo, err := obs.GetInfo(t.Context(), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(info, wantInfo) {
				t.Errorf("info: got %+v, want %+v", info, wantInfo)
			}
		})
	}
}

// checkNoName fails if err shows the object's name, plain or encoded.
func checkNoName(t *testing.T, err error, name string) {
	t.Helper()
	msg := err.Error()
	for _, s := range []string{name, base64.URLEncoding.EncodeToString([]byte(name)), "RSSMRA80A01H501U"} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q shows the object's name (%q)", msg, s)
		}
	}
}

func TestReadNotFound(t *testing.T) {
	nc := runJetStream(t)
	obs, _ := newBucket(t, nc)

	_, _, err := read(t, nc, secretName)
	if !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("before the put: got %v, want %v", err, jetstream.ErrObjectNotFound)
	}
	checkNoName(t, err, secretName)

	put(t, obs, secretName, content(1, 3*chunkSize))
	if _, _, err := read(t, nc, secretName); err != nil {
		t.Fatalf("after the put: %v", err)
	}

	if err := obs.Delete(t.Context(), secretName); err != nil {
		t.Fatal(err)
	}
	data, info, err := read(t, nc, secretName)
	if !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("after the delete: got %v, want %v", err, jetstream.ErrObjectNotFound)
	}
	if info != nil || len(data) != 0 {
		t.Errorf("after the delete: got info %v and %d bytes, want none", info, len(data))
	}
	checkNoName(t, err, secretName)
}

func TestReadMissingChunk(t *testing.T) {
	nc := runJetStream(t)
	obs, stream := newBucket(t, nc)
	for i, which := range []string{"first", "middle", "last"} {
		t.Run(which, func(t *testing.T) {
			name := which + "/" + secretName
			info := put(t, obs, name, content(byte(i), 3*chunkSize+1))
			if _, _, err := read(t, nc, name); err != nil {
				t.Fatalf("before the delete: %v", err)
			}
			seqs := chunkSeqs(t, stream, info)
			if err := stream.DeleteMsg(t.Context(), seqs[[]int{0, 1, len(seqs) - 1}[i]]); err != nil {
				t.Fatal(err)
			}
			_, _, err := read(t, nc, name)
			if !errors.Is(err, objread.ErrMissingChunk) {
				t.Fatalf("got %v, want %v", err, objread.ErrMissingChunk)
			}
			checkNoName(t, err, name)
		})
	}
}

// publishMeta replaces the info of the object named name, as nats.go's
// Put does.
func publishMeta(t *testing.T, nc *nats.Conn, name string, info *jetstream.ObjectInfo) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("$O." + bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name)))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if m.Data, err = json.Marshal(info); err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

func TestReadTamperedInfo(t *testing.T) {
	nc := runJetStream(t)
	obs, _ := newBucket(t, nc)
	other := sha256.Sum256([]byte("something else"))
	for i, tc := range []struct {
		name   string
		tamper func(*jetstream.ObjectInfo)
		want   error
	}{
		{"untouched", func(*jetstream.ObjectInfo) {}, nil},
		{"another digest", func(i *jetstream.ObjectInfo) {
			i.Digest = "SHA-256=" + base64.URLEncoding.EncodeToString(other[:])
		}, objread.ErrDigestMismatch},
		{"the digest in another format", func(i *jetstream.ObjectInfo) {
			i.Digest = strings.Replace(i.Digest, "SHA-256=", "sha-256=", 1)
		}, objread.ErrDigestMismatch},
		{"no digest", func(i *jetstream.ObjectInfo) { i.Digest = "" }, objread.ErrDigestMismatch},
		{"a byte more", func(i *jetstream.ObjectInfo) { i.Size++ }, objread.ErrSizeMismatch},
		{"a byte less", func(i *jetstream.ObjectInfo) { i.Size-- }, objread.ErrSizeMismatch},
		{"a chunk more", func(i *jetstream.ObjectInfo) { i.Chunks++ }, objread.ErrMissingChunk},
		{"a chunk less", func(i *jetstream.ObjectInfo) { i.Chunks-- }, objread.ErrSizeMismatch},
		{"another NUID", func(i *jetstream.ObjectInfo) { i.NUID = "NoSuchNUID" }, objread.ErrMissingChunk},
		{"a wildcard NUID", func(i *jetstream.ObjectInfo) { i.NUID = ">" }, jetstream.ErrBadObjectMeta},
		{"another name", func(i *jetstream.ObjectInfo) { i.Name = "other" }, jetstream.ErrBadObjectMeta},
		{"deleted", func(i *jetstream.ObjectInfo) { i.Deleted = true }, jetstream.ErrObjectNotFound},
		{"a link", func(i *jetstream.ObjectInfo) {
			i.Opts = &jetstream.ObjectMetaOptions{Link: &jetstream.ObjectLink{Bucket: bucket, Name: "other"}}
		}, objread.ErrLink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("case%d/%s", i, secretName)
			data := content(byte(i), 3*chunkSize+3)
			info := put(t, obs, name, data)
			tc.tamper(info)
			publishMeta(t, nc, name, info)
			got, _, err := read(t, nc, name)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				checkNoName(t, err, name)
				if uint64(len(got)) > info.Size {
					t.Errorf("wrote %d bytes, want at most the info's size %d", len(got), info.Size)
				}
				return
			}
			if !bytes.Equal(got, data) {
				t.Errorf("bytes: got %x, want %x", got, data)
			}
		})
	}
}

var errWrite = errors.New("disk full")

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n++; w.n == 2 {
		return 0, errWrite
	}
	return len(p), nil
}

func TestReadWriterError(t *testing.T) {
	nc := runJetStream(t)
	obs, _ := newBucket(t, nc)
	put(t, obs, secretName, content(1, 3*chunkSize))
	w := &failingWriter{}
	_, err := objread.Read(t.Context(), nc, bucket, secretName, w)
	if !errors.Is(err, errWrite) {
		t.Fatalf("got %v, want %v", err, errWrite)
	}
	if w.n != 2 {
		t.Errorf("writes: got %d, want 2 (Read stops at the first error)", w.n)
	}
}

func TestReadArguments(t *testing.T) {
	nc := runJetStream(t)
	obs, _ := newBucket(t, nc)
	put(t, obs, "x", []byte("x"))
	for _, tc := range []struct {
		name, bucket, object string
		opts                 []objread.Option
		want                 error // nil: any error
	}{
		{"a subject in the bucket name", "iseed_documents_acme.>", "x", nil, nil},
		{"no bucket name", "", "x", nil, nil},
		{"no object name", bucket, "", nil, nil},
		{"no such bucket", "iseed_documents_globex", "x", nil, nats.ErrNoResponders},
		{"another API prefix", bucket, "x", []objread.Option{objread.APIPrefix("$JS.elsewhere.API")}, nats.ErrNoResponders},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := objread.Read(t.Context(), nc, tc.bucket, tc.object, io.Discard, tc.opts...)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("got %v, want an error (%v)", err, tc.want)
			}
		})
	}
	// The control: the same connection and object read with the defaults,
	// and with the default prefix given.
	for _, opts := range [][]objread.Option{nil, {objread.APIPrefix("$JS.API.")}} {
		if _, err := objread.Read(t.Context(), nc, bucket, "x", io.Discard, opts...); err != nil {
			t.Fatalf("Read %v: %v", opts, err)
		}
	}
}
