package consumer

import (
	"slices"
	"testing"

	"github.com/iseed-dev/iseed/record"
)

// FuzzDecodeWithdrawal: whatever the message, reading it as a withdrawal
// never panics, and one taken as a valid withdrawal is no submission, has
// a valid id, no member but id, withdraw and version, each once, and is
// within its size.
func FuzzDecodeWithdrawal(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"emp-1","withdraw":true}`))
	f.Add([]byte(`{"id":"emp-1","withdraw":true,"withdraw":false}`))
	f.Add([]byte(`{"id":"emp-1","withdraw":"true","fields":{"withdraw":true}}`))
	f.Add([]byte(`{"id":"a","service":"ISEE","fields":{"$0":"x"},"metadata":{"withdraw":true}}`))
	f.Add([]byte(`{"ID":"a","withdraw":true,"version":null}`))
	f.Add([]byte(`{"id":"a","withdr\u0061w":true}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, bad, ok := decodeWithdrawal(data)
		if !ok || bad != nil {
			return
		}
		if _, err := DecodeSubmission(data); err == nil {
			t.Errorf("%q is both a submission and a withdrawal", data)
		}
		names := topLevelNames(data)
		if !record.ValidToken(id) || len(data) > maxWithdrawalBytes || len(names) != len(slices.Compact(slices.Sorted(slices.Values(names)))) {
			t.Errorf("%q taken for a withdrawal of %q, members %q", data, id, names)
		}
		for _, n := range names {
			if !slices.Contains(withdrawalKeys, n) {
				t.Errorf("%q taken for a withdrawal, with the member %q", data, n)
			}
		}
	})
}
