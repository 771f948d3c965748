package schema

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

func TestResolveFilesObjectStore(t *testing.T) {
	js := runJetStream(t)
	store, err := js.CreateObjectStore(t.Context(), jetstream.ObjectStoreConfig{Bucket: "iseed_files", Storage: jetstream.MemoryStorage})
	if err != nil {
		t.Fatal(err)
	}
	id := bytes.Repeat([]byte("carta d'identità "), 40)
	mandate := bytes.Repeat([]byte("delega "), 50)
	putObject(t, store, "req-1/ci.pdf", "application/pdf; name=ci.pdf", id)
	putObject(t, store, "req-1/delega", "", mandate)
	putObject(t, store, "empty", "", nil)
	putObject(t, store, "big", "", make([]byte, 2048))

	s := loadService(t, "isee.json")
	lim := Limits{MaxFileBytes: 1024}
	validate := func(refs map[string]any) *Prepared {
		t.Helper()
		in := iseeFields()
		for k, v := range refs {
			in[k] = v
		}
		p, err := s.Validate(Input{Fields: in}, lim)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	p := validate(map[string]any{"$5": "nats-os://iseed_files/req-1/ci.pdf", "$7": "Delega firmata.pdf|nats-os://iseed_files/req-1/delega"})
	if err := ResolveFiles(t.Context(), p, ObjectStoreSource(js), lim); err != nil {
		t.Fatalf("ResolveFiles: %v", err)
	}
	want := map[string]string{
		"$5": inline("ci.pdf", "application/pdf", id),
		"$7": inline("Delega firmata.pdf", "application/pdf", mandate), // the type from the given name's extension
	}
	for k, w := range want {
		if got := p.JSONVisura[k]; got != w {
			t.Errorf("%s = %.60q…, want %.60q…", k, got, w)
		}
		if c := check(kindFile, p.JSONVisura[k], lim.withDefaults()); c.code != "" {
			t.Errorf("%s resolved to a value the file check refuses: %s", k, c.msg)
		}
	}
	if p.FileRefs != nil {
		t.Errorf("FileRefs = %v after resolving, want none", p.FileRefs)
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
		p := validate(map[string]any{"$6": tt.ref})
		err := ResolveFiles(t.Context(), p, ObjectStoreSource(js), lim)
		if got := strings.Join(problems(t, err), ", "); got != "$6 "+tt.code {
			t.Errorf("%s: problems %v, want $6 %s", tt.ref, got, tt.code)
		}
		if p.JSONVisura["$6"] != tt.ref || len(p.FileRefs) != 1 {
			t.Errorf("%s: p changed after a failed resolution", tt.ref)
		}
	}
}

// fakeSource serves one object whose declared size may lie.
type fakeSource struct {
	data     []byte
	declared int64
	err      error
}

func (f fakeSource) Open(ctx context.Context, bucket, name string) (io.ReadCloser, FileInfo, error) {
	if f.err != nil {
		return nil, FileInfo{}, f.err
	}
	return io.NopCloser(bytes.NewReader(f.data)), FileInfo{Name: name, Size: f.declared}, nil
}

func TestResolveFilesLimits(t *testing.T) {
	s := loadService(t, "isee.json")
	lim := Limits{MaxFileBytes: 100}
	in := iseeFields()
	in["$5"] = "nats-os://b/scan.png"
	tests := []struct {
		name string
		src  fakeSource
		code string // "" for success
	}{
		{"exactly the limit", fakeSource{data: make([]byte, 100), declared: 100}, ""},
		{"size unknown, within", fakeSource{data: make([]byte, 10), declared: -1}, ""},
		{"size unknown, too large while streaming", fakeSource{data: make([]byte, 101), declared: -1}, CodeFileTooLarge},
		{"declared small, too large while streaming", fakeSource{data: make([]byte, 5000), declared: 10}, CodeFileTooLarge},
		{"declared too large", fakeSource{data: make([]byte, 10), declared: 101}, CodeFileTooLarge},
	}
	for _, tt := range tests {
		p, err := s.Validate(Input{Fields: in}, lim)
		if err != nil {
			t.Fatal(err)
		}
		err = ResolveFiles(t.Context(), p, tt.src, lim)
		if tt.code == "" {
			if err != nil || !strings.HasPrefix(p.JSONVisura["$5"], "scan.png|data:image/png;base64,") {
				t.Errorf("%s: err %v, $5 %.40q; want the inline PNG", tt.name, err, p.JSONVisura["$5"])
			}
			continue
		}
		if got := strings.Join(problems(t, err), ", "); got != "$5 "+tt.code {
			t.Errorf("%s: %v, want $5 %s", tt.name, got, tt.code)
		}
	}

	p, err := s.Validate(Input{Fields: in}, lim)
	if err != nil {
		t.Fatal(err)
	}
	unavailable := errors.New("nats: no responders")
	err = ResolveFiles(t.Context(), p, fakeSource{err: unavailable}, lim)
	var ve *ValidationError
	if !errors.Is(err, unavailable) || errors.As(err, &ve) {
		t.Errorf("store unavailable: err = %v, want it wrapped and not a validation error", err)
	}
}

func TestInlineName(t *testing.T) {
	tests := []struct{ given, object, want string }{
		{"", "req-1/ci.pdf", "ci.pdf"},
		{"a|b.pdf", "x", "a_b.pdf"},
		{"", "dir/", "dir"},
		{"", "", "file"},
		{"ok\x00.pdf", "x", "ok_.pdf"},
	}
	for _, tt := range tests {
		if got := inlineName(tt.given, tt.object); got != tt.want {
			t.Errorf("inlineName(%q, %q) = %q, want %q", tt.given, tt.object, got, tt.want)
		}
	}
}
