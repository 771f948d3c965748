package consumer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeSubmission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"minimal", `{"id":"a-1","service":"ISEE","fields":{}}`, true},
		{"full", `{"version":1,"id":"emp_7781","service":"ISEE","fields":{"$0":"x"},"options":["urgenza"],"email_target":"a@b.it","metadata":{"k":"v"}}`, true},
		{"not json", `{"id":`, false},
		{"array", `[]`, false},
		{"unknown key", `{"id":"a","service":"ISEE","fields":{},"extra":1}`, false},
		{"trailing data", `{"id":"a","service":"ISEE","fields":{}} {}`, false},
		{"bad id chars", `{"id":"a.b","service":"ISEE","fields":{}}`, false},
		{"id too long", `{"id":"` + strings.Repeat("x", 65) + `","service":"ISEE","fields":{}}`, false},
		{"no id", `{"service":"ISEE","fields":{}}`, false},
		{"no service", `{"id":"a","service":"  ","fields":{}}`, false},
		{"no fields", `{"id":"a","service":"ISEE"}`, false},
		{"metadata not object", `{"id":"a","service":"ISEE","fields":{},"metadata":[1]}`, false},
		{"future version", `{"version":2,"id":"a","service":"ISEE","fields":{}}`, false},
		{"hostile id", `{"id":"a\u0000b","service":"ISEE","fields":{}}`, false},
		{"metadata null: as if absent", `{"id":"a","service":"ISEE","fields":{},"metadata":null}`, true},
		{"invalid UTF-8 in a value", "{\"id\":\"a\",\"service\":\"ISEE\",\"fields\":{\"$0\":\"Ma\xff\xferio\"}}", false},
		{"empty", " \n", false},
		{"version 1", `{"version":1,"id":"a","service":"ISEE","fields":{}}`, true},
		{"version 0", `{"version":0,"id":"a","service":"ISEE","fields":{}}`, false},
		{"version null", `{"version":null,"id":"a","service":"ISEE","fields":{}}`, false},
		{"version 1.0", `{"version":1.0,"id":"a","service":"ISEE","fields":{}}`, false},
		// encoding/json matches names ignoring case; a submission's do not.
		{"ID", `{"ID":"a","service":"ISEE","fields":{}}`, false},
		{"SERVICE", `{"id":"a","SERVICE":"ISEE","fields":{}}`, false},
		{"Fields", `{"id":"a","service":"ISEE","Fields":{}}`, false},
		{"MetaData", `{"id":"a","service":"ISEE","fields":{},"MetaData":{}}`, false},
		{"Version", `{"Version":1,"id":"a","service":"ISEE","fields":{}}`, false},
		{"long s folds to s", `{"id":"a","ſervice":"ISEE","fields":{}}`, false},
		{"metadata's names are its own", `{"id":"a","service":"ISEE","fields":{},"options":[],"email_target":"","metadata":{"ID":1,"id":2}}`, true},
		// A repeated name: the decoder would keep the last value.
		{"id twice", `{"id":"a","id":"b","service":"ISEE","fields":{}}`, false},
		{"id twice, the same", `{"id":"a","id":"a","service":"ISEE","fields":{}}`, false},
		{"a field twice", `{"id":"a","service":"ISEE","fields":{"Nome":"Mario","Nome":"Luigi"}}`, false},
		{"a field twice, escaped", `{"id":"a","service":"ISEE","fields":{"Nome":"Mario","N\u006fme":"Luigi"}}`, false},
		{"fields differing in case: the schema judges", `{"id":"a","service":"ISEE","fields":{"Nome":"Mario","NOME":"Luigi"}}`, true},
		{"a name twice deep in metadata", `{"id":"a","service":"ISEE","fields":{},"metadata":{"a":[{"k":1,"k":2}]}}`, false},
		// The decoder would change half a surrogate pair to U+FFFD.
		{"a lone high surrogate", `{"id":"x","service":"ISEE","fields":{"Nome":"Mari\ud800o"}}`, false},
		{"a lone low surrogate", `{"id":"x","service":"ISEE","fields":{"Nome":"Mari\uDC00o"}}`, false},
		{"a lone surrogate at the end", `{"id":"x","service":"ISEE","fields":{"Nome":"Mario\ud83d"}}`, false},
		{"two high surrogates", `{"id":"x","service":"ISEE","fields":{"Nome":"\ud83d\ud83d"}}`, false},
		{"a low then a high surrogate", `{"id":"x","service":"ISEE","fields":{"Nome":"\ude00\ud83d"}}`, false},
		{"a high surrogate, then another escape", `{"id":"x","service":"ISEE","fields":{"Nome":"\ud83d\n"}}`, false},
		{"a lone surrogate in a name", `{"id":"x","service":"ISEE","fields":{"N\udfffome":"Mario"}}`, false},
		{"a lone surrogate in metadata", `{"id":"x","service":"ISEE","fields":{},"metadata":{"k":["\ud800"]}}`, false},
		{"a lone surrogate in options", `{"id":"x","service":"ISEE","fields":{},"options":["\ud800"]}`, false},
		{"a surrogate pair", `{"id":"x","service":"ISEE","fields":{"Nome":"Mari\ud83d\ude00o"}}`, true},
		{"a surrogate pair in upper case", `{"id":"x","service":"ISEE","fields":{"Nome":"\uD83D\uDE00"}}`, true},
		{"U+FFFD itself, and escaped", `{"id":"x","service":"ISEE","fields":{"Nome":"Mari�o \ufffd"}}`, true},
		{"an escaped backslash before u", `{"id":"x","service":"ISEE","fields":{"Nome":"\\ud800 �"}}`, true},
		{"the same name in two objects", `{"id":"a","service":"ISEE","fields":{"k":"1"},"metadata":{"k":{"k":1},"j":[{"k":1},{"k":2}]}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSubmission([]byte(tt.in))
			if got := err == nil; got != tt.ok {
				t.Fatalf("DecodeSubmission(%s): got err %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

// TestDecodeProblemsQuoteNothing: what DecodeSubmission says of a bad
// event is logged, so it names members and JSON kinds, never a member's
// name or value from the message, and stays short whatever comes in.
func TestDecodeProblemsQuoteNothing(t *testing.T) {
	t.Parallel()
	const secret = "RSSMRA85T10A562S"
	hugeNumber := "39" + strings.Repeat("0", 1<<20) // a phone number, say, then a megabyte of digits
	tests := []struct{ name, in, want string }{
		{"unknown member", `{"id":"a","service":"ISEE","fields":{},"` + secret + `":"x"}`, "a member that is not part of a submission"},
		{"a huge unknown member", `{"id":"a","service":"ISEE","fields":{},"` + secret + strings.Repeat("x", 1<<20) + `":1}`, "a member that is not part of a submission"},
		{"wrong type", `{"id":"a","service":"ISEE","fields":"` + secret + `"}`, "fields: a JSON string where an object is expected"},
		{"array", `["` + secret + `"]`, "a submission is a JSON object"},
		{"empty", ``, "the message is empty"},
		{"broken", `{"id":"a","service":"` + secret + `",`, "the JSON ends before the object does"},
		{"syntax", `{"id":"a","service":"ISEE","fields":{}}x` + secret, "trailing data"},
		{"bad byte", `{"id":"a","service":"ISEE","fields":{"$0":"` + secret + "\xff" + `"}}`, "not valid UTF-8 (at byte 59)"},
		{"a member in other case", `{"Id":"` + secret + `","service":"ISEE","fields":{}}`, `a member that is not part of a submission (did you mean "id"? member names are case-sensitive)`},
		{"an unknown member in other case", `{"id":"a","service":"ISEE","fields":{},"` + strings.ToUpper(secret) + `":1}`, "(its members are version, id, service"},
		{"a member twice", `{"id":"a","service":"ISEE","fields":{},"service":"` + secret + `"}`, `the member "service" appears twice`},
		{"a field twice", `{"id":"a","service":"ISEE","fields":{"$0":"x","` + secret + `":"x","` + secret + `":"y"}}`, "fields: the same name twice (its members 2 and 3)"},
		{"a name twice in metadata", `{"id":"a","service":"ISEE","fields":{},"metadata":{"x":{"` + secret + `":1,"` + secret + `":2}}}`, "metadata: an object within it has the same name twice (its members 1 and 2)"},
		{"a lone surrogate", `{"id":"a","service":"ISEE","fields":{"$0":"` + secret + `\ud800"}}`, `fields: a \u escape of half a surrogate pair`},
		{"a lone surrogate in service", `{"id":"a","service":"` + secret + `\udc00","fields":{}}`, `service: a \u escape of half a surrogate pair`},
		{"a lone surrogate in a top-level name", `{"id":"a","service":"ISEE","fields":{},"` + secret + `\udc00":1}`, `a member name: a \u escape of half a surrogate pair`},
		{"version null", `{"version":null,"id":"a","service":"ISEE","fields":{}}`, "version is null: leave it out, or give 1"},
		{"version 0", `{"version":0,"id":"a","service":"ISEE","fields":{}}`, "unsupported version 0"},
		{"a byte order mark", "\uFEFF" + `{"id":"a","service":"` + secret + `","fields":{}}`, "starts with a byte order mark"},
		// encoding/json quotes a number it cannot hold: one too large for
		// a float64 in fields, or not a whole int in version.
		{"a huge number in fields", `{"id":"a","service":"ISEE","fields":{"$0":` + hugeNumber + `}}`, "fields: a JSON number that does not fit"},
		{"a huge number in version", `{"version":` + hugeNumber + `,"id":"a","service":"ISEE","fields":{}}`, "version: a JSON number that does not fit"},
		{"a fraction in version", `{"version":1.` + hugeNumber + `,"id":"a","service":"ISEE","fields":{}}`, "version: a JSON number that does not fit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSubmission([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), secret) || len(err.Error()) > 200 {
				t.Errorf("got %.300v, want an error saying %q, quoting nothing of the message", err, tt.want)
			}
		})
	}
}

// TestDeepNestingIsRefusedCheaply: a message of nothing but '[' (a
// tenant's, up to max_payload) is refused as encoding/json refuses it, past
// 10000 levels, without the member check holding a scope per level first:
// 2 MB of them took 300 MB, 8 MB over a gigabyte, per worker.
func TestDeepNestingIsRefusedCheaply(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"in fields", `{"id":"a","service":"ISEE","fields":` + strings.Repeat("[", 2<<20), "fields: nested deeper than 10000 levels"},
		{"in metadata", `{"id":"a","service":"ISEE","fields":{},"metadata":{"k":` + strings.Repeat(`[`, 2<<20), "metadata: nested deeper than 32 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { refusedCheaply(t, tt.in, tt.want, 64) })
	}
	// As deep as encoding/json goes is still a submission.
	deep := `{"id":"a","service":"ISEE","fields":{"$0":` + strings.Repeat("[", 9998) + strings.Repeat("]", 9998) + "}}"
	if _, err := DecodeSubmission([]byte(deep)); err != nil {
		t.Errorf("a field 10000 levels deep: got %v, want it decoded (the schema judges it)", err)
	}
	if _, err := DecodeSubmission([]byte(strings.Replace(deep, "[", "[[", 1))); err == nil {
		t.Error("a field 10001 levels deep: decoded, want an error")
	}
}

// TestWideMembersAreRefusedCheaply: megabytes of names or values in one
// member (a tenant's message, up to max_payload) are refused before the
// decoder builds them: 4 MB of `"x":0,` in fields allocated 190 MiB and held
// over 100 MiB, per worker. What a submission can need still decodes.
func TestWideMembersAreRefusedCheaply(t *testing.T) {
	wide := func(member, open string, item func(i int) string, end string) string {
		var b strings.Builder
		b.WriteString(`{"id":"a","service":"ISEE",` + member + `:` + open)
		for i := 0; b.Len() < 4<<20; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(item(i))
		}
		b.WriteString(end)
		if member != `"fields"` {
			b.WriteString(`,"fields":{}`)
		}
		return b.String() + "}"
	}
	name := func(i int) string { return fmt.Sprintf(`"%x":0`, i) }
	zero := func(int) string { return "0" }
	empty := func(int) string { return `""` }
	tests := []struct{ name, in, want string }{
		{"names in fields", wide(`"fields"`, "{", name, "}"), "fields: more than 16384 names and values"},
		{"values in a field", wide(`"fields"`, `{"$0":[`, zero, "]}"), "fields: more than 16384 names and values"},
		{"names in metadata", wide(`"metadata"`, "{", name, "}"), "metadata: more than 16384 names and values"},
		{"options", wide(`"options"`, "[", empty, "]"), "options: more than 16384 names and values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { refusedCheaply(t, tt.in, tt.want, 32) })
	}
	// 256 fields (the most a service has) and metadata of the largest size
	// allowed, as dense as JSON goes, are still a submission.
	var fields []string
	for i := range 256 {
		fields = append(fields, fmt.Sprintf(`"$%d":"x"`, i))
	}
	dense := `[` + strings.Repeat("0,", MaxMetadataBytes/2-1) + `0]`
	in := `{"id":"a","service":"ISEE","fields":{` + strings.Join(fields, ",") + `},"metadata":{"k":` + dense[:len(dense)-10] + `0]}}`
	if _, err := DecodeSubmission([]byte(in)); err != nil {
		t.Errorf("256 fields and dense metadata: got %v, want them decoded", err)
	}
}

// TestPeekID reads the id of an event that does not decode, as far as the
// event goes before it breaks.
func TestPeekID(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"whole", `{"id":"a-1","service":"ISEE","extra":1}`, "a-1"},
		{"cut short after the id", `{"id":"a-2","service":"ISEE",`, "a-2"},
		{"nested too deep after the id", `{"id":"a-3","fields":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "a-3"},
		{"a NUL byte after the id", "{\"id\":\"a-4\",\"service\":\"IS\x00EE\"}", "a-4"},
		{"given twice", `{"id":"a-5","id":"a-6","fields":1}`, ""},
		{"given twice, the same", `{"id":"a-5","id":"a-5","fields":1}`, "a-5"},
		{"in other case", `{"Id":"a-11","service":"ISEE"}`, "a-11"},
		{"in other case, twice", `{"ID":"a-12","iD":"a-13"}`, ""},
		{"spelt exactly, before other cases", `{"ID":"a-14","id":"a-15"}`, "a-15"},
		{"spelt exactly and invalid", `{"ID":"a-16","id":"a.17"}`, ""},
		{"an id that is not a string", `{"id":{"id":"a-7"},"fields":1}`, ""},
		{"an invalid id", `{"id":"a.8","fields":1}`, ""},
		{"broken before the id", `{"service":"ISEE" "id":"a-9"}`, ""},
		{"not an object", `["a-10"]`, ""},
		{"after a byte order mark", "\uFEFF" + `{"id":"a-18","service":"ISEE"}`, "a-18"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PeekID([]byte(tt.in)); got != tt.want {
				t.Errorf("PeekID(%.60s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	a, _ := DecodeSubmission([]byte(`{"id":"a","service":"ISEE","fields":{"$0":"x","$1":"y"},"options":["b","a"],"metadata":{"m":1}}`))
	b, _ := DecodeSubmission([]byte(`{"id":"a","service":"ISEE","fields":{"$1":"y","$0":"x"},"options":["a","b"],"metadata":{"m":2}}`))
	c, _ := DecodeSubmission([]byte(`{"id":"a","service":"ISEE","fields":{"$0":"x","$1":"z"},"options":["a","b"]}`))
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("key order, option order or metadata changed the fingerprint")
	}
	if a.Fingerprint() == c.Fingerprint() {
		t.Error("a different field value kept the fingerprint")
	}
}

func FuzzDecodeSubmission(f *testing.F) {
	f.Add([]byte(`{"id":"a-1","service":"ISEE","fields":{"$0":"x"}}`))
	f.Add([]byte(`{"id":"a","service":"ISEE","fields":{"$0":{"x":[1,2,null]}},"metadata":{}}`))
	f.Add([]byte(`{"version":1,"Id":"a","id":"a","service":"ISEE","fields":{"Nome":"x","Nome":"y"},"metadata":{"k":[{"k":1}]}}`))
	f.Add([]byte(`{"ID":"a","SERVICE":"ISEE","Fields":{},"MetaData":{},"version":null}`))
	f.Add([]byte(`{"id":"a","service":"ISEE","fields":{"Nome":"Mari\ud800o","$1":"\ud83d\ude00"}}`))
	f.Add([]byte(`{"id":"a","service":"ISEE","fields":{"N\udc00":"\\ud800�"},"metadata":{"k":"\ud83d\u0041"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSubmission(data)
		id := PeekID(data)
		if err != nil {
			return
		}
		_ = s.Fingerprint()
		if names := topLevelNames(data); len(names) != len(slices.Compact(slices.Sorted(slices.Values(names)))) {
			t.Errorf("%q decoded, with a member given twice: %q", data, names)
		} else if !slices.ContainsFunc(names, func(n string) bool { return n == "version" }) != (s.Version == 0) {
			t.Errorf("%q decoded with version %d, members %q", data, s.Version, names)
		}
		for _, n := range topLevelNames(data) {
			if !slices.Contains(strings.Split(submissionMembers, ", "), n) {
				t.Errorf("%q decoded, with the member %q", data, n)
			}
		}
		if id != s.ID {
			t.Errorf("%q decoded with id %q, but PeekID read %q", data, s.ID, id)
		}
	})
}

// topLevelNames lists the names of the top-level object's members, in
// order, as given.
func topLevelNames(data []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var names []string
	for dec.More() {
		key, err := dec.Token()
		var value json.RawMessage
		if err != nil || dec.Decode(&value) != nil {
			break
		}
		names = append(names, key.(string))
	}
	return names
}

// refusedCheaply wants in refused with an error saying want, decoding it
// allocating at most maxMiB.
func refusedCheaply(t *testing.T, in, want string, maxMiB uint64) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := DecodeSubmission([]byte(in))
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %.300v, want an error saying %q", err, want)
	}
	if got := (after.TotalAlloc - before.TotalAlloc) >> 20; got > maxMiB {
		t.Errorf("decoding %d bytes allocated %d MiB, want at most %d", len(in), got, maxMiB)
	}
}

// TestMetadataNestingIsBounded: metadata is copied into every event, two
// levels deeper, and a tenant's consumers must decode those events in
// whatever language they are written: Rust's serde_json stops at 128
// levels by default, and metadata nested thousands of levels deep (within
// its 16 KiB) made events those consumers could not read. Metadata nests
// at most MaxMetadataNesting levels, its own object counting as one, in
// objects or arrays; fields are the schema's to judge.
func TestMetadataNestingIsBounded(t *testing.T) {
	nest := func(levels int, open, close string) string {
		return `{"id":"a","service":"ISEE","fields":{},"metadata":` +
			strings.Repeat(open, levels-1) + `{"k":1}` + strings.Repeat(close, levels-1) + `}`
	}
	for _, kind := range []struct{ open, close string }{{`{"k":`, `}`}, {`{"k":[`, `]}`}} {
		if kind.open == `{"k":[` {
			// two levels per repeat: an object and an array in it
			if _, err := DecodeSubmission([]byte(nest(MaxMetadataNesting/2, kind.open, kind.close))); err != nil {
				t.Errorf("metadata %d levels deep, objects and arrays: %v; want it decoded", MaxMetadataNesting-1, err)
			}
			if _, err := DecodeSubmission([]byte(nest(MaxMetadataNesting/2+1, kind.open, kind.close))); err == nil ||
				!strings.Contains(err.Error(), "metadata: nested deeper than 32 levels") {
				t.Errorf("metadata %d levels deep, objects and arrays: %v; want it refused", MaxMetadataNesting+1, err)
			}
			continue
		}
		if _, err := DecodeSubmission([]byte(nest(MaxMetadataNesting, kind.open, kind.close))); err != nil {
			t.Errorf("metadata %d levels deep: %v; want it decoded", MaxMetadataNesting, err)
		}
		if _, err := DecodeSubmission([]byte(nest(MaxMetadataNesting+1, kind.open, kind.close))); err == nil ||
			!strings.Contains(err.Error(), "metadata: nested deeper than 32 levels") {
			t.Errorf("metadata %d levels deep: %v; want it refused", MaxMetadataNesting+1, err)
		}
	}
	// Fields may nest deeper: the schema judges them.
	deep := `{"id":"a","service":"ISEE","fields":{"$0":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}}`
	if _, err := DecodeSubmission([]byte(deep)); err != nil {
		t.Errorf("a field 100 levels deep: %v; want it decoded", err)
	}
}

// TestTruncateCutsWholeCharacters: a service name or an error cut for a
// problem message or a log line ends on a whole character, never half of
// one (shown as \xe2\x82 in the problem's %q, or U+FFFD).
func TestTruncateCutsWholeCharacters(t *testing.T) {
	s := strings.Repeat("a", 63) + "€uro" // the euro sign is 3 bytes, from byte 63
	for n := 63; n <= 66; n++ {
		got := truncate(s, n)
		if !utf8.ValidString(got) {
			t.Errorf("truncate(…, %d) = %q: not valid UTF-8", n, got)
		}
		if want := map[bool]string{true: s[:63] + "…", false: s[:66] + "…"}[n < 66]; got != want {
			t.Errorf("truncate(…, %d) = %q; want %q", n, got, want)
		}
	}
}
