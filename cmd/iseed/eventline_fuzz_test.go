package main

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEventLine: whatever an event on the events stream holds, iseed watch
// prints it as one line of printable UTF-8: no newline to fake another
// event, no escape sequence or bidi override for the terminal to act on.
func FuzzEventLine(f *testing.F) {
	for _, s := range []string{
		`{"type":"iseed.submission.cancelled","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","state":"cancelled","service":"ISEE","request_id":"5f","stato_richiesta":"Annullata","reason":"Delega mancante","esito":{"codice":"302","info":"KO"}}}`,
		`{"type":"iseed.document.ready","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","stato":"Visura evasa","final":true,"object":"acme/e1/0123456789abcdef/DSU.RSSMRA80A01H501U.zip","size":10,"sha256":"ab","content_type":"application/zip","encrypted":true,"key_id":"k1"}}`,
		`{"type":"iseed.document.ready","time":"2026-12-02T10:00:00Z","data":{"tenant":"acme","submission_id":"ctl-3","object":"acme/ctl-3/0123456789abcdef/DSU\u001b]0;x\u0007.pdf","sha256":"00","content_type":"application/pdf"}}`,
		`{"type":"iseed.submission.rejected\n","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e\u009b2J","tenant":"ac\u202eme","errors":[{"code":"x"}]}}`,
		`{"type":"iseed.document.ready","data":{"tenant":"a\rb","submission_id":"\u001b[2J","object":"x","sha256":"\u0007","content_type":"\u0085","encrypted":true,"key_id":"k\n"}}`,
		`{"type":"iseed.submission.sent","data":{"submission_id":"e1","tenant":"acme","esito":{"codice":"\u202e"},"stato_richiesta":"\u0000"}}`,
		`nope`, `{"data":[]}`, `{"time":"9999-12-31T23:59:59.999999999+14:00"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		line := eventLine(data)
		if !utf8.ValidString(line) || strings.ContainsFunc(line, func(r rune) bool { return r != ' ' && !strconv.IsPrint(r) }) {
			t.Fatalf("eventLine(%q) = %q: not one line of printable text", data, line)
		}
	})
}
