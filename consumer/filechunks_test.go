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

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// putHollowObject writes, as a tenant may with its grant on its files
// bucket's subjects, the info of an object of size bytes in chunks chunks,
// with its digest, and that many empty chunk messages.
func putHollowObject(t *testing.T, h *harness, bucket, name string, size uint64, chunks uint32) {
	t.Helper()
	const nuid = "HollowObject0123456789"
	sum := sha256.Sum256(make([]byte, size))
	info := jetstream.ObjectInfo{ObjectMeta: jetstream.ObjectMeta{Name: name}, Bucket: bucket, NUID: nuid, Size: size,
		Chunks: chunks, ModTime: time.Now().UTC(), Digest: "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:])}
	for range chunks {
		if err := h.NATS.NC.Publish(fmt.Sprintf("$O.%s.C.%s", bucket, nuid), nil); err != nil {
			t.Fatal(err)
		}
	}
	meta, _ := json.Marshal(info)
	// The server stores the chunks before it answers this publish: on a
	// loaded machine (CI, -race) 100,000 of them take longer than a
	// publish's default 5 s.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.NATS.JS.Publish(ctx, fmt.Sprintf("$O.%s.M.%s", bucket, base64.URLEncoding.EncodeToString([]byte(name))), meta); err != nil {
		t.Fatal(err)
	}
}

// TestHollowObjectHoldsNoWorker: a tenant can write an object's info by
// hand, declaring a small size and digest (so that the check reads
// nothing) and a great many empty chunks. Reading it then takes one NATS
// request per chunk, inside the POST, until the call's deadline: each
// such submission held a worker for a whole call, delivery after delivery,
// and a few of them kept another tenant's submission waiting. An object
// with more chunks than its size can fill is refused when it is checked.
func TestHollowObjectHoldsNoWorker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	files, err := h.NATS.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "iseed_files_acme"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.PutBytes(ctx, "7781/carta.pdf", []byte("%PDF-1.4 carta")); err != nil {
		t.Fatal(err)
	}
	putHollowObject(t, h, "iseed_files_acme", "7781/hollow.pdf", 10, 100_000)
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 1 }))
	ids := []string{"hollow-1", "hollow-2", "hollow-3", "hollow-4"}
	for _, id := range ids {
		fields := pipetest.ValidFields("Mario")
		fields["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_acme/7781/hollow.pdf"
		h.Publish(pipetest.Submission(id, fields), nil)
	}
	start := time.Now()
	other := pipetest.Submission("emp-other", pipetest.ValidFields("Luigi"))
	h.publishAs("globex", other, msgIDOf("globex", other))
	pipetest.WaitExplained(t, 8*time.Second, "globex's submission", func() bool {
		r, _, err := record.NewStore(h.Res.Records).Get(ctx, "globex", "emp-other")
		return err == nil && r.State == record.StateSubmitted
	}, func() string {
		return fmt.Sprintf("%d POSTs begun for acme's hollow object", h.Counter("POST /richiesta"))
	})
	t.Logf("globex's submission went after %s", time.Since(start))
	for _, id := range ids {
		r := h.WaitState(id, record.StateRejected)
		if len(r.Errors) != 1 || r.Errors[0].Code != "invalid_file_reference" {
			t.Errorf("%s: problems: got %+v, want one invalid_file_reference", id, r.Errors)
		} else if msg := r.Errors[0].Message; strings.Contains(msg, "no object") || !strings.Contains(msg, "cannot be right") || !strings.Contains(msg, "PutBytes") {
			t.Errorf("%s: message: got %q, want it to say the object's info cannot be right and how to put it, not that there is no object", id, msg)
		}
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (globex's)", got)
	}
}
