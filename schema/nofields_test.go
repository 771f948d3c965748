package schema

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestCacheRefusesServiceWithoutFields: a structure without fields
// (json_struttura or campi as [], {}, null or false) leaves nothing that
// a submission could fill: every one would be refused as unknown_field,
// and one with no fields would be sent, and paid, with no input. It is an
// unusable schema: a *SchemaError naming campi, never cached, so that the
// service is asked again (it may be a passing fault of the upstream). So
// is campi keyed "0", "1", … (a PHP list): which $N each field is sent as
// is unknown.
func TestCacheRefusesServiceWithoutFields(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	srv := &rawSchemaServer{}
	client, _ := rawSchemaClient(t, srv)
	c := NewCache(client, kv, CacheConfig{TTL: time.Hour})
	const structure = `"json_struttura":{"campi":{` +
		`"$0":{"nome":"Nome *","tipo":"testo","null":false,"ordine":"0","istruzioni":"Il nome"},` +
		`"$1":{"nome":"Codice Fiscale *","tipo":"codice_fiscale_persona_fisica","null":false,"ordine":"1","istruzioni":"Il codice"}},` +
		`"validazione":"$0 && $1","istruzioni":"PHA+U2Vydml6aW88L3A+","istruzioni_ricerca":""}`
	if !strings.Contains(phpService, structure) {
		t.Fatal("the answer's structure changed")
	}
	var bodies []string
	for _, n := range []string{`[]`, `{}`, `null`, `false`} {
		bodies = append(bodies,
			strings.Replace(phpService, structure, `"json_struttura":`+n, 1),
			strings.Replace(phpService, structure, `"json_struttura":{"campi":`+n+`,"validazione":"","istruzioni":""}`, 1))
	}
	bodies = append(bodies, strings.Replace(phpService, structure,
		`"json_struttura":{"campi":{"0":{"nome":"Nome *","tipo":"testo","null":false},"1":{"nome":"Codice Fiscale *","tipo":"codice_fiscale_persona_fisica","null":false}},"validazione":""}`, 1))
	for _, body := range bodies {
		srv.set(body)
		calls := srv.count()
		s, err := c.Service(t.Context(), phpServiceHash)
		var se *SchemaError
		if !errors.As(err, &se) || se.Field != "campi" || se.Hash != phpServiceHash {
			fields := -1
			if s != nil {
				fields = len(s.Fields)
				_, verr := s.Validate(Input{}, Limits{})
				t.Errorf("answer %s: got a service of %d fields (empty input valid: %v), %v; want a *SchemaError on campi", body, fields, verr == nil, err)
				continue
			}
			t.Errorf("answer %s: got %v; want a *SchemaError on campi", body, err)
			continue
		}
		if _, err := c.Service(t.Context(), phpServiceHash); err == nil || srv.count() != calls+2 {
			t.Errorf("answer %s: asked again: %v after %d calls; want the upstream asked again, and the same error", body, err, srv.count()-calls)
		}
	}
	srv.set(phpService)
	if s, err := c.Service(t.Context(), phpServiceHash); err != nil || len(s.Fields) != 2 {
		t.Errorf("the service whole again: %v, %v; want its 2 fields", s, err)
	}
}
