package main

import (
	"slices"
	"testing"
	"time"
)

func TestScheduleDecode(t *testing.T) {
	tests := []struct {
		in   string
		want []time.Duration
		ok   bool
	}{
		{"1m,5m,15m,1h", []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}, true},
		{" 50ms , 1s", []time.Duration{50 * time.Millisecond, time.Second}, true},
		{"", nil, false},
		{"1m,,1h", nil, false},
		{"1m,-1s", nil, false},
		{"soon", nil, false},
	}
	for _, tt := range tests {
		var got Schedule
		err := got.Decode(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("Schedule.Decode(%q): got %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestEventLine(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"status", `{"type":"iseed.submission.cancelled","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","state":"cancelled","service":"ISEE","request_id":"5f","stato_richiesta":"Annullata","reason":"Delega mancante","esito":{"codice":"302","info":"KO"}}}`,
			`2026-11-25T10:30:00Z acme/e1 cancelled service="ISEE" request=5f stato="Annullata" reason="Delega mancante" esito=302`},
		{"document", `{"type":"iseed.document.ready","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","object":"acme/e1/5f.zip","size":10,"sha256":"ab","content_type":"application/zip","encrypted":true,"key_id":"k1"}}`,
			"2026-11-25T10:30:00Z acme/e1 document_ready object=acme/e1/5f.zip size=10 sha256=ab type=application/zip encrypted key=k1"},
		{"rejected", `{"type":"iseed.submission.rejected","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","errors":[{"code":"x","message":"y"}]}}`,
			"2026-11-25T10:30:00Z acme/e1 rejected problems=1"},
		{"garbage", `nope`, "(undecodable event, 4 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventLine([]byte(tt.data)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
