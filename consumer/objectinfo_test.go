package consumer_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// putObjectInfo writes, as a tenant may with its grant on its files
// bucket's subjects, an object's info as it likes, and chunks empty
// chunk messages.
func putObjectInfo(t *testing.T, h *harness, bucket, name string, info jetstream.ObjectInfo, chunks int) {
	t.Helper()
	ctx := context.Background()
	info.Name, info.Bucket, info.ModTime = name, bucket, time.Now().UTC()
	for range chunks {
		if err := h.NATS.NC.Publish(fmt.Sprintf("$O.%s.C.%s", bucket, info.NUID), nil); err != nil {
			t.Fatal(err)
		}
	}
	meta, _ := json.Marshal(info)
	if _, err := h.NATS.JS.Publish(ctx, fmt.Sprintf("$O.%s.M.%s", bucket, base64.URLEncoding.EncodeToString([]byte(name))), meta); err != nil {
		t.Fatal(err)
	}
}

// TestObjectInfoWithoutDigestOrSizeIsRefused: a tenant writes its files
// bucket's subjects, so an object's info is whatever it wrote. An info
// without a digest, or with a size past what an int64 holds, sent the
// check reading the object through: a chunk the info counts and the
// bucket lacks was taken for an object replaced meanwhile, and the
// submission was handed back on every delivery until ISEED_MAX_DELIVER
// ran out, days later, its producer told nothing meanwhile; a size past
// an int64 was taken for an unknown one, and the chunks read until there
// were no more, however many. Every Object Store client records both:
// such an info cannot be right, and is refused as the hollow object's is.
func TestObjectInfoWithoutDigestOrSizeIsRefused(t *testing.T) {
	t.Parallel()
	empty := sha256.Sum256(nil)
	cases := []struct {
		name   string
		info   jetstream.ObjectInfo
		chunks int
	}{
		{"no digest, a chunk missing", jetstream.ObjectInfo{Size: 2048, Chunks: 2}, 0},
		{"a size past an int64", jetstream.ObjectInfo{Size: 1<<63 + 10, Chunks: 1000,
			Digest: "SHA-256=" + base64.URLEncoding.EncodeToString(empty[:])}, 1000},
	}
	h := newHarness(t)
	ctx := context.Background()
	const bucket = "iseed_files_acme"
	if _, err := h.NATS.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		c.info.NUID = fmt.Sprintf("TamperedObject%010d", i)
		putObjectInfo(t, h, bucket, fmt.Sprintf("7781/tampered-%d.pdf", i), c.info, c.chunks)
	}
	h.Start()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("tampered-%d", i)
			fields := pipetest.ValidFields("Mario")
			fields["Copia documento d'identità"] = fmt.Sprintf("carta.pdf|nats-os://%s/7781/tampered-%d.pdf", bucket, i)
			h.Publish(pipetest.Submission(id, fields), nil)
			pipetest.WaitExplained(t, 10*time.Second, "the submission to be rejected", func() bool {
				r := h.Record(id)
				return r != nil && r.State == record.StateRejected
			}, func() string {
				if r := h.Record(id); r != nil {
					return "its record is " + r.State
				}
				return "no record"
			})
			r := h.Record(id)
			if len(r.Errors) != 1 || r.Errors[0].Code != "invalid_file_reference" || !strings.Contains(r.Errors[0].Message, "cannot be right") {
				t.Errorf("problems: got %+v, want one invalid_file_reference saying the object's info cannot be right", r.Errors)
			}
		})
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want 0", got)
	}
}
