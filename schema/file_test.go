package schema

import (
	"encoding/base64"
	"strings"
	"testing"
)

// inline returns a file in the upstream's inline form.
func inline(name, mime string, data []byte) string {
	return name + "|data:" + mime + ";base64," + base64.StdEncoding.EncodeToString(data)
}

func TestInlineFileSize(t *testing.T) {
	for n := range 10 {
		data := []byte(strings.Repeat("x", n))
		f, reason := parseInlineFile(inline("a.pdf", "application/pdf", data))
		if n == 0 {
			if reason == "" {
				t.Errorf("empty file accepted")
			}
			continue
		}
		if reason != "" || f.size != int64(n) || f.name != "a.pdf" || f.mime != "application/pdf" {
			t.Errorf("parseInlineFile(%d bytes) = %+v %q, want size %d", n, f, reason, n)
		}
	}
}

func TestFile(t *testing.T) {
	pdf := []byte("%PDF-1.7 a small document")
	lim := Limits{MaxFileBytes: 32}
	ok := inline("documento.pdf", "application/pdf", pdf)
	bad, large := CodeInvalidFile, CodeFileTooLarge
	runChecks(t, kindFile, lim, []checkCase{
		{in: ok},
		{in: inline("C:\\fakepath\\carta identità.jpg", "image/jpeg", pdf)},
		{in: inline("a.txt", "text/plain;charset=utf-8", pdf)},
		{in: inline("a.bin", "application/vnd.ms-excel", make([]byte, 32))},
		{in: inline("a.bin", "application/octet-stream", make([]byte, 33)), code: large},
		{in: strings.TrimPrefix(ok, "documento.pdf"), code: bad},
		{in: "documento.pdf", code: bad},
		{in: "data:application/pdf;base64,JVBERi0=", code: bad},
		{in: "a.pdf|application/pdf;base64,JVBERi0=", code: bad},
		{in: "a.pdf|data:application/pdf,JVBERi0=", code: bad},
		{in: "a.pdf|data:;base64,JVBERi0=", code: bad},
		{in: "a.pdf|data:pdf;base64,JVBERi0=", code: bad},
		{in: "a.pdf|data:application/pdf;charset;base64,JVBERi0=", code: bad},
		{in: "a.pdf|data:application/pdf;base64,", code: bad},
		{in: "a.pdf|data:application/pdf;base64,JVBERi0", code: bad},
		{in: "a.pdf|data:application/pdf;base64,JVB=Ri0=", code: bad},
		{in: "a.pdf|data:application/pdf;base64,JVBER===", code: bad},
		{in: "a.pdf|data:application/pdf;base64,JVBE\nRi0=", code: bad},
		{in: "a.pdf|data:application/pdf;base64,JVBE_i0=", code: bad},
		{in: "a\x00.pdf|data:application/pdf;base64,JVBERi0=", code: bad},
		{in: strings.Repeat("n", 256) + "|data:application/pdf;base64,JVBERi0=", code: bad},
	})
}

func TestFileReference(t *testing.T) {
	bad := CodeInvalidFileRef
	runChecks(t, kindFile, Limits{}, []checkCase{
		{in: "nats-os://iseed_files/req-1/carta.pdf"},
		{in: "carta identità.pdf|nats-os://iseed-files/abc"},
		{in: "nats-os://b/o"},
		{in: "nats-os://", code: bad},
		{in: "nats-os://bucket", code: bad},
		{in: "nats-os://bucket/", code: bad},
		{in: "nats-os:///object", code: bad},
		{in: "nats-os://buc.ket/object", code: bad},
		{in: "nats-os://bucket/obj\x00", code: bad},
		{in: "|nats-os://bucket/object", code: bad},
		{in: "nats-os://bucket/" + strings.Repeat("o", 1025), code: bad},
		{in: "nats-os:/bucket/object", code: CodeInvalidFile},
	})
	tests := []struct {
		in   string
		want fileRef
	}{
		{"nats-os://files/a/b.pdf", fileRef{bucket: "files", object: "a/b.pdf"}},
		{"doc.pdf|nats-os://files/x|y", fileRef{name: "doc.pdf", bucket: "files", object: "x|y"}},
		{"nats-os://files/x|y", fileRef{bucket: "files", object: "x|y"}},
	}
	for _, tt := range tests {
		got, reason := parseFileRef(tt.in)
		if reason != "" || got != tt.want {
			t.Errorf("parseFileRef(%q) = %+v %q, want %+v", tt.in, got, reason, tt.want)
		}
	}
	if c := check(kindFile, "nats-os://files/a.pdf", Limits{}.withDefaults()); !c.ref {
		t.Errorf("a reference is not marked as one")
	}
}
