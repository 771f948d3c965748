package schema

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iseed-dev/iseed/internal/natstest"
)

// putObject stores data in bucket under name with an optional content type.
func putObject(t *testing.T, store jetstream.ObjectStore, name, contentType string, data []byte) {
	t.Helper()
	meta := jetstream.ObjectMeta{Name: name}
	if contentType != "" {
		meta.Headers = nats.Header{"Content-Type": []string{contentType}}
	}
	if _, err := store.Put(t.Context(), meta, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func newObjectStore(t *testing.T, js jetstream.JetStream, bucket string) jetstream.ObjectStore {
	t.Helper()
	store, err := js.CreateObjectStore(t.Context(), jetstream.ObjectStoreConfig{Bucket: bucket, Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// validISEE validates the ISEE fixture's fields with some replaced.
func validISEE(t *testing.T, s *Service, lim Limits, with map[string]any) *Prepared {
	t.Helper()
	in := iseeFields()
	maps.Copy(in, with)
	p, err := s.Validate(Input{Fields: in}, lim)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// inlineValue writes a resolved file's inline form.
func inlineValue(t *testing.T, f FileRef) string {
	t.Helper()
	var b strings.Builder
	n, err := f.WriteInline(t.Context(), &b)
	if err != nil || n != int64(b.Len()) {
		t.Fatalf("WriteInline = %d, %v; wrote %d bytes", n, err, b.Len())
	}
	return b.String()
}

func TestResolveFilesObjectStore(t *testing.T) {
	js := natstest.Run(t).JS
	store := newObjectStore(t, js, "iseed_files")
	id := bytes.Repeat([]byte("carta d'identità "), 40)
	mandate := bytes.Repeat([]byte("delega "), 50)
	putObject(t, store, "req-1/ci.pdf", "application/pdf; name=ci.pdf", id)
	putObject(t, store, "req-1/delega", "", mandate)
	putObject(t, store, "empty", "", nil)
	putObject(t, store, "big", "", make([]byte, 2048))

	s := loadService(t, "isee.json")
	lim := Limits{MaxFileBytes: 1024}
	p := validISEE(t, s, lim, map[string]any{"$5": "nats-os://iseed_files/req-1/ci.pdf", "$7": "Delega firmata.pdf|nats-os://iseed_files/req-1/delega"})
	inline6 := p.JSONVisura["$6"]
	if err := ResolveFiles(t.Context(), p, ObjectStoreSource(js), lim); err != nil {
		t.Fatalf("ResolveFiles: %v", err)
	}
	want := map[string]string{
		"$5": inline("ci.pdf", "application/pdf", id),
		"$7": inline("Delega firmata.pdf", "application/pdf", mandate), // the type from the given name's extension
	}
	for k, w := range want {
		f := p.Files[k]
		if got := inlineValue(t, f); got != w {
			t.Errorf("%s = %.60q…, want %.60q…", k, got, w)
		}
		if c := check(kindFile, inlineValue(t, f), lim.withDefaults()); c.code != "" {
			t.Errorf("%s resolved to a value the file check refuses: %s", k, c.msg)
		}
		if _, ok := p.JSONVisura[k]; ok {
			t.Errorf("%s is still in JSONVisura after resolving", k)
		}
	}
	if f := p.Files["$5"]; f.Name != "ci.pdf" || f.MIME != "application/pdf" || f.Size != int64(len(id)) || f.Digest != digestOf(id) {
		t.Errorf("$5 = %+v, want ci.pdf, application/pdf, %d bytes, %s", f, len(id), digestOf(id))
	}
	if p.FileRefs != nil || len(p.Files) != 2 || p.JSONVisura["$6"] != inline6 {
		t.Errorf("FileRefs %v, %d files, $6 changed %v; want none, 2, the inline $6 kept", p.FileRefs, len(p.Files), p.JSONVisura["$6"] != inline6)
	}

	tests := []struct {
		ref, code string
	}{
		{"nats-os://iseed_files/missing", CodeInvalidFileRef},
		{"nats-os://no_such_bucket/x", CodeInvalidFileRef},
		{"nats-os://iseed_files/empty", CodeInvalidFile},
		{"nats-os://iseed_files/big", CodeFileTooLarge},
	}
	for _, tt := range tests {
		p := validISEE(t, s, lim, map[string]any{"$6": tt.ref})
		err := ResolveFiles(t.Context(), p, ObjectStoreSource(js), lim)
		if got := strings.Join(problems(t, err), ", "); got != "$6 "+tt.code {
			t.Errorf("%s: problems %v, want $6 %s", tt.ref, got, tt.code)
		}
		if p.JSONVisura["$6"] != tt.ref || len(p.FileRefs) != 1 || p.Files != nil {
			t.Errorf("%s: p changed after a failed resolution", tt.ref)
		}
	}
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return formatDigest(sum[:])
}

// fakeSource serves one object whose declared size and digest may lie.
type fakeSource struct {
	data     []byte
	declared int64
	digest   string
	err      error
}

func (f fakeSource) Open(ctx context.Context, bucket, name string) (io.ReadCloser, FileInfo, error) {
	if f.err != nil {
		return nil, FileInfo{}, f.err
	}
	return io.NopCloser(bytes.NewReader(f.data)), FileInfo{Name: name, Size: f.declared, Digest: f.digest}, nil
}

func TestResolveFilesLimits(t *testing.T) {
	s := loadService(t, "isee.json")
	lim := Limits{MaxFileBytes: 100}
	small, hundred := make([]byte, 10), make([]byte, 100)
	tests := []struct {
		name string
		src  fakeSource
		code string // "" for success
	}{
		{"exactly the limit", fakeSource{data: hundred, declared: 100, digest: digestOf(hundred)}, ""},
		{"size and digest unknown, within", fakeSource{data: small, declared: -1}, ""},
		{"digest unknown, within", fakeSource{data: small, declared: 10}, ""},
		{"size unknown, too large while streaming", fakeSource{data: make([]byte, 101), declared: -1}, CodeFileTooLarge},
		{"declared small, too large while streaming", fakeSource{data: make([]byte, 5000), declared: 10}, CodeFileTooLarge},
		{"declared too large", fakeSource{data: small, declared: 101, digest: digestOf(small)}, CodeFileTooLarge},
		{"declared empty", fakeSource{declared: 0, digest: digestOf(nil)}, CodeInvalidFile},
		{"a link", fakeSource{err: ErrFileIsLink}, CodeFileIsLink},
	}
	for _, tt := range tests {
		p := validISEE(t, s, lim, map[string]any{"$5": "nats-os://b/scan.png"})
		err := ResolveFiles(t.Context(), p, tt.src, lim)
		if tt.code == "" {
			if err != nil || !strings.HasPrefix(inlineValue(t, p.Files["$5"]), "scan.png|data:image/png;base64,") {
				t.Errorf("%s: err %v; want the inline PNG", tt.name, err)
			}
			continue
		}
		if got := strings.Join(problems(t, err), ", "); got != "$5 "+tt.code {
			t.Errorf("%s: %v, want $5 %s", tt.name, got, tt.code)
		}
	}

	p := validISEE(t, s, lim, map[string]any{"$5": "nats-os://b/scan.png"})
	unavailable := errors.New("nats: no responders")
	err := ResolveFiles(t.Context(), p, fakeSource{err: unavailable}, lim)
	var ve *ValidationError
	if !errors.Is(err, unavailable) || errors.As(err, &ve) {
		t.Errorf("store unavailable: err = %v, want it wrapped and not a validation error", err)
	}
}

// TestResolveFilesTotal: referenced files count, by their declared size,
// with the inline ones towards Limits.MaxTotalFileBytes.
func TestResolveFilesTotal(t *testing.T) {
	s := loadService(t, "isee.json")
	src := mapSource{"a": make([]byte, 100), "b": make([]byte, 100)}
	lim := Limits{MaxFileBytes: 500, MaxTotalFileBytes: 500}
	tests := []struct {
		name   string
		inline int // bytes of the inline $6
		want   string
	}{
		{"exactly the total", 300, ""},
		{"one byte over: the last reference crosses", 301, "$7 files_too_large"},
		{"the first reference crosses", 450, "$5 files_too_large"},
	}
	for _, tt := range tests {
		p := validISEE(t, s, lim, map[string]any{
			"$5": "nats-os://b/a", "$6": inline("f.pdf", "application/pdf", make([]byte, tt.inline)), "$7": "nats-os://b/b",
		})
		err := ResolveFiles(t.Context(), p, src, lim)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if got := strings.Join(problems(t, err), ", "); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// TestFileChangedBeforeSending: what is written is the object checked, or
// an error wrapping ErrFileChanged.
func TestFileChangedBeforeSending(t *testing.T) {
	s := loadService(t, "isee.json")
	data := []byte("%PDF-1.7 the checked content")
	other := []byte("%PDF-1.7 other content, same size")[:len(data)]
	tests := []struct {
		name string
		send fakeSource // what the source serves at send time
	}{
		{"other content, declared digest the same", fakeSource{data: other, declared: int64(len(data)), digest: digestOf(data)}},
		{"other content, nothing declared", fakeSource{data: other, declared: -1}},
		{"longer, nothing declared", fakeSource{data: append(bytes.Clone(data), 'x'), declared: -1}},
		{"shorter, nothing declared", fakeSource{data: data[:10], declared: -1}},
		{"another size declared", fakeSource{data: data, declared: 5, digest: digestOf(data)}},
		{"another digest declared", fakeSource{data: data, declared: int64(len(data)), digest: digestOf(other)}},
		{"gone", fakeSource{err: ErrFileNotFound}},
		{"a link now", fakeSource{err: ErrFileIsLink}},
	}
	for _, tt := range tests {
		p := validISEE(t, s, Limits{}, map[string]any{"$5": "nats-os://b/ci.pdf"})
		checked := fakeSource{data: data, declared: int64(len(data)), digest: digestOf(data)}
		if err := ResolveFiles(t.Context(), p, checked, Limits{}); err != nil {
			t.Fatal(err)
		}
		f := p.Files["$5"]
		f.src = tt.send
		var out bytes.Buffer
		if _, err := f.WriteInline(t.Context(), &out); !errors.Is(err, ErrFileChanged) {
			t.Errorf("%s: WriteInline = %v, want ErrFileChanged", tt.name, err)
		}
		if want := inline("ci.pdf", "application/pdf", data); out.String() == want {
			t.Errorf("%s: wrote the complete inline form of the old content", tt.name)
		}
	}
}

// TestWriteJSONVisura: the streamed json_visura is byte for byte what
// encoding/json wrote for the map with the files inline (what was sent
// before files were streamed), HTML characters and all.
func TestWriteJSONVisura(t *testing.T) {
	s := loadService(t, "isee.json")
	data := map[string][]byte{"$5": []byte("<carta & identità>"), "$7": bytes.Repeat([]byte{0, 0xff, '"'}, 1000)}
	src := mapSource(data)
	p := validISEE(t, s, Limits{}, map[string]any{
		"$0": "Mario <&> \u2028", "$5": "nats-os://b/$5", "$7": "a<b>&\"c\\.pdf|nats-os://b/$7",
	})
	if err := ResolveFiles(t.Context(), p, src, Limits{}); err != nil {
		t.Fatal(err)
	}
	old := maps.Clone(p.JSONVisura)
	old["$5"] = inline("$5", "application/octet-stream", data["$5"])
	old["$7"] = inline("a<b>&\"c\\.pdf", "application/pdf", data["$7"])
	want, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := p.WriteJSONVisura(t.Context(), &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("WriteJSONVisura:\ngot  %.300s\nwant %.300s", got.Bytes(), want)
	}
	if n, err := p.JSONVisuraLen(); n != int64(len(want)) || err != nil {
		t.Errorf("JSONVisuraLen = %d, %v; want %d", n, err, len(want))
	}
	empty := &Prepared{}
	if n, err := empty.JSONVisuraLen(); n != 2 || err != nil {
		t.Errorf("JSONVisuraLen of nothing = %d, %v; want 2 ({})", n, err)
	}

	unavailable := errors.New("nats: no responders")
	f := p.Files["$7"]
	f.src = fakeSource{err: unavailable}
	p.Files["$7"] = f
	err = p.WriteJSONVisura(t.Context(), io.Discard)
	var fe *FileError
	if !errors.Is(err, unavailable) || !errors.As(err, &fe) || fe.Field != "$7" {
		t.Errorf("store unavailable: WriteJSONVisura = %v, want a *FileError for $7 wrapping the cause", err)
	} else if _, ok := fe.Problem(); ok {
		t.Errorf("store unavailable: the failure is a problem of the submission")
	}

	unresolved := validISEE(t, s, Limits{}, map[string]any{"$5": "nats-os://b/$5"})
	if err := unresolved.WriteJSONVisura(t.Context(), io.Discard); err == nil {
		t.Error("WriteJSONVisura with unresolved references: no error")
	}
	if _, err := unresolved.JSONVisuraLen(); err == nil {
		t.Error("JSONVisuraLen with unresolved references: no error")
	}
}

// mapSource serves objects by name, declaring their size and digest.
type mapSource map[string][]byte

func (m mapSource) Open(ctx context.Context, bucket, name string) (io.ReadCloser, FileInfo, error) {
	data, ok := m[name]
	if !ok {
		return nil, FileInfo{}, ErrFileNotFound
	}
	return io.NopCloser(bytes.NewReader(data)), FileInfo{Name: name, Size: int64(len(data)), Digest: digestOf(data)}, nil
}

func TestInlineName(t *testing.T) {
	tests := []struct{ given, object, want string }{
		{"", "req-1/ci.pdf", "ci.pdf"},
		{"a|b.pdf", "x", "a_b.pdf"},
		{"", "dir/", "dir"},
		{"", "", "file"},
		{"ok\x00.pdf", "x", "ok_.pdf"},
		{"ok\u0085.pdf", "x", "ok_.pdf"},
	}
	for _, tt := range tests {
		if got := inlineName(tt.given, tt.object); got != tt.want {
			t.Errorf("inlineName(%q, %q) = %q, want %q", tt.given, tt.object, got, tt.want)
		}
	}
}

func TestParseDigest(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	tests := []struct {
		in string
		ok bool
	}{
		{formatDigest(sum[:]), true},
		{"sha-256=" + strings.TrimPrefix(formatDigest(sum[:]), digestPrefix), true},
		{strings.TrimRight(formatDigest(sum[:]), "="), true},
		{"SHA-256=", false},
		{"SHA-512=" + strings.TrimPrefix(formatDigest(sum[:]), digestPrefix), false},
		{"SHA-256=AAAA", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := parseDigest(tt.in)
		if ok != tt.ok || ok && !bytes.Equal(got, sum[:]) {
			t.Errorf("parseDigest(%q) = %x, %v; want ok %v", tt.in, got, ok, tt.ok)
		}
	}
}
