package consumer

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// capsEntry is a caps bucket entry for the view.
type capsEntry struct {
	jetstream.KeyValueEntry
	key   string
	value string
	op    jetstream.KeyValueOp
}

func (e capsEntry) Key() string                     { return e.key }
func (e capsEntry) Value() []byte                   { return []byte(e.value) }
func (e capsEntry) Operation() jetstream.KeyValueOp { return e.op }

func put(key, value string) jetstream.KeyValueEntry {
	return capsEntry{key: key, value: value, op: jetstream.KeyValuePut}
}
func del(key string) jetstream.KeyValueEntry {
	return capsEntry{key: key, op: jetstream.KeyValueDelete}
}

// TestCapsView: the view says "no cap applies" only once the whole bucket
// was delivered, and only when neither the tenant nor the account has a
// cap; anything it cannot read counts as a cap.
func TestCapsView(t *testing.T) {
	tests := []struct {
		name    string
		entries []jetstream.KeyValueEntry // nil entry: end of the initial values
		tenant  string
		want    bool
	}{
		{"nothing delivered yet", nil, "acme", false},
		{"initial values still coming", []jetstream.KeyValueEntry{put("tenant.other", `{"daily_eur":100}`)}, "acme", false},
		{"empty bucket", []jetstream.KeyValueEntry{nil}, "acme", true},
		{"another tenant's cap", []jetstream.KeyValueEntry{put("tenant.other", `{"daily_eur":100}`), nil}, "acme", true},
		{"the tenant's cap", []jetstream.KeyValueEntry{put("tenant.acme", `{"daily_requests":5}`), nil}, "acme", false},
		{"the account's cap", []jetstream.KeyValueEntry{put("account", `{"monthly_eur":100}`), nil}, "acme", false},
		{"a cap set after the start", []jetstream.KeyValueEntry{nil, put("tenant.acme", `{"daily_eur":1}`)}, "acme", false},
		{"a cap deleted", []jetstream.KeyValueEntry{put("tenant.acme", `{"daily_eur":1}`), nil, del("tenant.acme")}, "acme", true},
		{"a cap set to zero", []jetstream.KeyValueEntry{put("account", `{"daily_eur":1}`), nil, put("account", `{}`)}, "acme", true},
		{"a value that cannot be read", []jetstream.KeyValueEntry{nil, put("account", `{"daily_eur":`)}, "acme", false},
		{"a key of another kind", []jetstream.KeyValueEntry{put("other", `{"daily_eur":1}`), nil}, "acme", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newCapsView(nil)
			for _, e := range tt.entries {
				v.apply(e)
			}
			if got := v.uncapped(tt.tenant); got != tt.want {
				t.Errorf("uncapped(%q): got %v, want %v", tt.tenant, got, tt.want)
			}
			v.forget()
			if v.uncapped(tt.tenant) {
				t.Errorf("after forget: uncapped, want the view to know nothing")
			}
		})
	}
	var none *capsView
	if none.uncapped("acme") {
		t.Errorf("no view: uncapped, want every submission to reserve")
	}
}
