package dlq

import (
	"strings"
	"testing"
)

func TestVerifyReplay(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	const subject = "iseed.submissions.acme"
	payload := []byte(`{"id":"e1"}`)
	good := SignReplay(key, 42, subject, payload)
	tests := []struct {
		name    string
		key     []byte
		value   string
		subject string
		payload []byte
		want    uint64
		ok      bool
	}{
		{"genuine", key, good, subject, payload, 42, true},
		{"bare sequence, as before signatures", key, "42", subject, payload, 0, false},
		{"other sequence", key, "43" + good[2:], subject, payload, 0, false},
		{"other tenant's subject", key, good, "iseed.submissions.evil", payload, 0, false},
		{"other payload", key, good, subject, []byte(`{"id":"e2"}`), 0, false},
		{"other key", []byte("fedcba9876543210fedcba9876543210"), good, subject, payload, 0, false},
		{"no key", nil, good, subject, payload, 0, false},
		{"garbage", key, "x:y", subject, payload, 0, false},
		{"empty", key, "", subject, payload, 0, false},
		{"zero sequence", key, SignReplay(key, 0, subject, payload), subject, payload, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq, ok := VerifyReplay(tt.key, tt.value, tt.subject, tt.payload)
			if seq != tt.want || ok != tt.ok {
				t.Errorf("got %d, %v; want %d, %v", seq, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestReplaySeq(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  uint64
	}{
		{SignReplay([]byte("k"), 42, "iseed.submissions.acme", []byte("{}")), 42},
		{"7:not-a-signature", 7},
		{"7", 0}, // no signature part: names nothing
		{"", 0},
		{"x:sig", 0},
		{"-1:sig", 0},
	} {
		if got := ReplaySeq(tt.value); got != tt.want {
			t.Errorf("ReplaySeq(%q): got %d, want %d", tt.value, got, tt.want)
		}
	}
}

// TestVerifyMarks: a correction mark, and a tenant-asked mark, holds only
// for the letter, subject and payload it was signed for, with the key it
// was signed with; a replay's own signature is neither, nor is one mark
// the other: a copy of a plain replay cannot be made a correction, or a
// replay the tenant asked for.
func TestVerifyMarks(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	const subject = "iseed.submissions.acme"
	payload := []byte(`{"id":"e1"}`)
	_, replaySig, _ := strings.Cut(SignReplay(key, 42, subject, payload), ":")
	marks := []struct {
		name   string
		sign   func(key []byte, seq uint64, subject string, payload []byte) string
		verify func(key []byte, value string, seq uint64, subject string, payload []byte) bool
		other  func(key []byte, seq uint64, subject string, payload []byte) string
	}{
		{"correction", SignCorrection, VerifyCorrection, SignTenantAsked},
		{"tenant asked", SignTenantAsked, VerifyTenantAsked, SignCorrection},
	}
	for _, m := range marks {
		good := m.sign(key, 42, subject, payload)
		tests := []struct {
			name    string
			key     []byte
			value   string
			seq     uint64
			subject string
			payload []byte
			want    bool
		}{
			{"genuine", key, good, 42, subject, payload, true},
			{"other letter", key, good, 43, subject, payload, false},
			{"other tenant's subject", key, good, 42, "iseed.submissions.evil", payload, false},
			{"other payload", key, good, 42, subject, []byte(`{"id":"e2"}`), false},
			{"other key", []byte("fedcba9876543210fedcba9876543210"), good, 42, subject, payload, false},
			{"no key", nil, good, 42, subject, payload, false},
			{"not a replay", key, m.sign(key, 0, subject, payload), 0, subject, payload, false},
			{"the replay's signature", key, replaySig, 42, subject, payload, false},
			{"the other mark", key, m.other(key, 42, subject, payload), 42, subject, payload, false},
			{"garbage", key, "!!", 42, subject, payload, false},
			{"empty", key, "", 42, subject, payload, false},
		}
		for _, tt := range tests {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				if got := m.verify(tt.key, tt.value, tt.seq, tt.subject, tt.payload); got != tt.want {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	}
}
