package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iseed-dev/iseed/internal/natstest"
)

// TestLinksAreRefused: a tenant's link to another bucket's object, to a
// whole bucket or to its own object is refused with the same problem,
// whether or not the target exists, and the target is never read.
func TestLinksAreRefused(t *testing.T) {
	js := natstest.Run(t).JS
	ctx := t.Context()
	acme := newObjectStore(t, js, "iseed_files_acme")
	other := newObjectStore(t, js, "iseed_files_other")
	docs := newObjectStore(t, js, "iseed_documents")
	putObject(t, other, "secret.pdf", "application/pdf", []byte("%PDF another tenant's secret"))
	putObject(t, docs, "ISEE.pdf", "application/pdf", []byte("%PDF a stored document"))
	putObject(t, acme, "own.pdf", "application/pdf", []byte("%PDF the tenant's own file"))
	link := func(name string, store jetstream.ObjectStore, object string) {
		t.Helper()
		info, err := store.GetInfo(ctx, object)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := acme.AddLink(ctx, name, info); err != nil {
			t.Fatal(err)
		}
	}
	link("to-object", other, "secret.pdf")
	link("to-own-object", acme, "own.pdf")
	if _, err := acme.AddBucketLink(ctx, "to-bucket", docs); err != nil {
		t.Fatal(err)
	}
	// Links whose targets are gone: an object deleted, a bucket deleted.
	lost := newObjectStore(t, js, "iseed_files_lost")
	putObject(t, lost, "x.pdf", "", []byte("x"))
	putObject(t, other, "deleted.pdf", "", []byte("y"))
	link("to-deleted-object", other, "deleted.pdf")
	link("to-object-in-deleted-bucket", lost, "x.pdf")
	if _, err := acme.AddBucketLink(ctx, "to-deleted-bucket", lost); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(ctx, "deleted.pdf"); err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteObjectStore(ctx, "iseed_files_lost"); err != nil {
		t.Fatal(err)
	}

	s := loadService(t, "isee.json")
	var first *Problem
	for _, name := range []string{"to-object", "to-bucket", "to-own-object", "to-deleted-object", "to-object-in-deleted-bucket", "to-deleted-bucket"} {
		p := validISEE(t, s, Limits{}, map[string]any{"$5": "carta.pdf|nats-os://iseed_files_acme/" + name})
		err := ResolveFiles(ctx, p, ObjectStoreSource(js), Limits{})
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 {
			t.Errorf("%s: ResolveFiles = %v, want one problem", name, err)
			continue
		}
		got := ve.Problems[0]
		if got.Field != "$5" || got.Code != CodeFileIsLink || strings.Contains(got.Message, name) {
			t.Errorf("%s: problem %+v, want $5 file_is_link not naming the link", name, got)
		}
		if first == nil {
			first = &got
		} else if got != *first {
			t.Errorf("%s: problem %+v, want the same as for every link: %+v", name, got, *first)
		}
	}
}

// TestObjectChangedBeforeSending: an object replaced, deleted or turned
// into a link after ResolveFiles checked it is never sent; neither is the
// rest of an object replaced while it is read.
func TestObjectChangedBeforeSending(t *testing.T) {
	js := natstest.Run(t).JS
	ctx := t.Context()
	acme := newObjectStore(t, js, "iseed_files_acme")
	other := newObjectStore(t, js, "iseed_files_other")
	secret := []byte("%PDF another tenant's secret, same length as ours!")
	putObject(t, other, "secret.pdf", "", secret)
	ours := bytes.Repeat([]byte("o"), len(secret)) // the object checked: the same size as the secret
	s := loadService(t, "isee.json")
	tests := []struct {
		name   string
		change func()
	}{
		{"replaced", func() { putObject(t, acme, "ci.pdf", "", secret) }},
		{"deleted", func() {
			if err := acme.Delete(ctx, "ci.pdf"); err != nil {
				t.Fatal(err)
			}
		}},
		{"turned into a link", func() {
			// nats.go will not put a link over an object: a tenant with its
			// own client can, by writing the meta as publishMeta does.
			link := jetstream.ObjectInfo{Bucket: "iseed_files_acme", NUID: "LINKNUID", ObjectMeta: jetstream.ObjectMeta{
				Name: "ci.pdf", Opts: &jetstream.ObjectMetaOptions{Link: &jetstream.ObjectLink{Bucket: "iseed_files_other", Name: "secret.pdf"}},
			}}
			m := nats.NewMsg("$O.iseed_files_acme.M." + base64.URLEncoding.EncodeToString([]byte("ci.pdf")))
			m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
			m.Data, _ = json.Marshal(link)
			if _, err := js.PublishMsg(ctx, m); err != nil {
				t.Fatal(err)
			}
			if _, _, err := ObjectStoreSource(js).Open(ctx, "iseed_files_acme", "ci.pdf"); !errors.Is(err, ErrFileIsLink) {
				t.Fatalf("the object is not a link: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		putObject(t, acme, "ci.pdf", "", ours)
		p := validISEE(t, s, Limits{}, map[string]any{"$5": "nats-os://iseed_files_acme/ci.pdf"})
		if err := ResolveFiles(ctx, p, ObjectStoreSource(js), Limits{}); err != nil {
			t.Fatal(err)
		}
		tt.change()
		var out bytes.Buffer
		err := p.WriteJSONVisura(ctx, &out)
		var fe *FileError
		if !errors.Is(err, ErrFileChanged) || !errors.As(err, &fe) {
			t.Errorf("%s: WriteJSONVisura = %v, want a *FileError wrapping ErrFileChanged", tt.name, err)
		} else if prob, ok := fe.Problem(); !ok || prob.Field != "$5" || prob.Code != CodeFileChanged || prob.Name != "Copia documento d'identità *" {
			t.Errorf("%s: Problem() = %+v, %v; want $5 file_changed", tt.name, prob, ok)
		}
		if strings.Contains(out.String(), inline("ci.pdf", "application/pdf", secret)[len("ci.pdf|data:application/pdf;base64,"):][:20]) {
			t.Errorf("%s: the other tenant's content was written", tt.name)
		}
	}

	// Replaced between two chunks: the rest is gone, never the new content.
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*8192+1) // 3 chunks of 128 KiB and a bit
	putObject(t, acme, "big.pdf", "", big)
	p := validISEE(t, s, Limits{}, map[string]any{"$5": "nats-os://iseed_files_acme/big.pdf"})
	if err := ResolveFiles(ctx, p, ObjectStoreSource(js), Limits{}); err != nil {
		t.Fatal(err)
	}
	r, err := p.Files["$5"].Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 1000)); err != nil {
		t.Fatal(err)
	}
	putObject(t, acme, "big.pdf", "", bytes.ToUpper(big))
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, ErrFileChanged) {
		t.Errorf("replaced while read: %v, want ErrFileChanged", err)
	}
}

// TestResolveFilesMemory: resolving three referenced 10 MiB files reads
// none of them, and the json_visura streamed later is byte for byte the
// one sent when the files were read into memory.
func TestResolveFilesMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("puts 30 MiB in an embedded server")
	}
	js := natstest.Run(t).JS
	ctx := t.Context()
	store := newObjectStore(t, js, "iseed_files")
	rng := rand.NewChaCha8([32]byte{1, 2})
	files := map[string][]byte{}
	for _, name := range []string{"ci.pdf", "cf.jpg", "delega.pdf"} {
		data := make([]byte, 10<<20)
		rng.Read(data)
		files[name] = data
		putObject(t, store, name, "", data)
	}
	s := loadService(t, "isee.json")
	p := validISEE(t, s, Limits{}, map[string]any{
		"$5": "nats-os://iseed_files/ci.pdf", "$6": "Tessera.jpg|nats-os://iseed_files/cf.jpg", "$7": "nats-os://iseed_files/delega.pdf",
	})

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := ResolveFiles(ctx, p, ObjectStoreSource(js), Limits{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3<<20 {
		t.Errorf("ResolveFiles allocated %d bytes for 30 MiB of referenced files, want under 3 MiB", alloc)
	} else {
		t.Logf("ResolveFiles allocated %d bytes for 30 MiB of referenced files", alloc)
	}

	// What the code that read files into memory sent: the inline form of
	// each file, in the map that encoding/json marshalled.
	h := sha256.New()
	if _, err := p.Files["$6"].WriteInline(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Sum(nil), sha256.Sum256([]byte(inline("Tessera.jpg", "image/jpeg", files["cf.jpg"]))); !bytes.Equal(got, want[:]) {
		t.Errorf("$6: WriteInline differs from the inline form of cf.jpg")
	}
	if raceEnabled {
		return // TestWriteJSONVisura checks the same on small files
	}
	old := maps.Clone(p.JSONVisura)
	old["$5"] = inline("ci.pdf", "application/pdf", files["ci.pdf"])
	old["$6"] = inline("Tessera.jpg", "image/jpeg", files["cf.jpg"])
	old["$7"] = inline("delega.pdf", "application/pdf", files["delega.pdf"])
	want, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	h.Reset()
	if err := p.WriteJSONVisura(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got, want := h.Sum(nil), sha256.Sum256(want); !bytes.Equal(got, want[:]) {
		t.Errorf("streamed json_visura differs from the one built in memory")
	}
	if n, err := p.JSONVisuraLen(); n != int64(len(want)) || err != nil {
		t.Errorf("JSONVisuraLen = %d, %v; want %d", n, err, len(want))
	}
}

// TestFileErrorsNameNoObject: object names are the tenant's (a file named
// after the person is plausible), and file errors end up in logs, so no
// error names the object: a meta that does not decode, a link, an object
// replaced or deleted before sending. Problems, for the producer, may.
func TestFileErrorsNameNoObject(t *testing.T) {
	js := natstest.Run(t).JS
	ctx := t.Context()
	acme := newObjectStore(t, js, "iseed_files_acme")
	const name = "RSSMRA85T10A562S_carta.pdf"
	meta := func(data []byte) {
		t.Helper()
		m := nats.NewMsg("$O.iseed_files_acme.M." + base64.URLEncoding.EncodeToString([]byte(name)))
		m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
		m.Data = data
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		if strings.Contains(err.Error(), "RSSMRA") {
			t.Errorf("%s: the error names the object: %v", what, err)
		}
	}
	meta([]byte("{not json"))
	_, _, err := ObjectStoreSource(js).Open(ctx, "iseed_files_acme", name)
	check("undecodable meta", err)
	link, _ := json.Marshal(jetstream.ObjectInfo{Bucket: "iseed_files_acme", NUID: "LINKNUID", ObjectMeta: jetstream.ObjectMeta{
		Name: name, Opts: &jetstream.ObjectMetaOptions{Link: &jetstream.ObjectLink{Bucket: "iseed_files_acme", Name: "x.pdf"}}}})
	meta(link)
	_, _, err = ObjectStoreSource(js).Open(ctx, "iseed_files_acme", name)
	check("link", err)

	s := loadService(t, "isee.json")
	for _, change := range []string{"replaced", "deleted"} {
		putObject(t, acme, name, "", []byte("%PDF the tenant's file"))
		p := validISEE(t, s, Limits{}, map[string]any{"$5": "nats-os://iseed_files_acme/" + name})
		if err := ResolveFiles(ctx, p, ObjectStoreSource(js), Limits{}); err != nil {
			t.Fatal(err)
		}
		if change == "replaced" {
			putObject(t, acme, name, "", []byte("%PDF another file"))
		} else if err := acme.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		check(change, p.WriteJSONVisura(ctx, io.Discard))
	}
}
