package schema

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// phpService is a GET /visure/{hash} answer with two fields, an option and
// a rule; phpServiceHash is its hash.
const (
	phpServiceHash = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	phpService     = `{"data":{"nome_visura":"Servizio","nome_categoria":"Patronato","hash_visura":"` + phpServiceHash + `",` +
		`"json_struttura":{"campi":{` +
		`"$0":{"nome":"Nome *","tipo":"testo","null":false,"ordine":"0","istruzioni":"Il nome"},` +
		`"$1":{"nome":"Codice Fiscale *","tipo":"codice_fiscale_persona_fisica","null":false,"ordine":"1","istruzioni":"Il codice"}},` +
		`"validazione":"$0 && $1","istruzioni":"PHA+U2Vydml6aW88L3A+","istruzioni_ricerca":""},` +
		`"ricerca":false,"prezzo_visura":12,"prezzo_ricerca":0,"sincrona":false,` +
		`"opzioni":[{"tipo":"urgenza","prezzo":4,"nome":"opzione_0"}]},"success":true,"message":"","error":null}`
)

// rawSchemaServer serves body to GET /visure/{hash} and the catalog listing
// the service, over real HTTP, counting schema calls. body can be changed.
type rawSchemaServer struct {
	mu    sync.Mutex
	body  string
	calls int
}

func (s *rawSchemaServer) set(body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func (s *rawSchemaServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *rawSchemaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path == "/visure" {
		_, _ = w.Write([]byte(`{"data":[{"nome_visura":"Servizio","nome_categoria":"Patronato","hash_visura":"` + phpServiceHash + `"}],"success":true,"message":"","error":null}`))
		return
	}
	s.mu.Lock()
	s.calls++
	body := s.body
	s.mu.Unlock()
	_, _ = w.Write([]byte(body))
}

// rawSchemaClient serves h over HTTP and returns a client of it, and the
// server (closed at the test's end).
func rawSchemaClient(t *testing.T, h http.Handler) (*visengine.Client, *httptest.Server) {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	base, err := url.Parse(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	client, err := visengine.New(visengine.Config{BaseURL: base, Token: "token", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return client, hs
}

// TestCachePHPEmptyForms: a service schema that writes "nothing" as PHP
// does (false, null, "", [], {}) for its instructions, its rule or its
// options is a usable service: the cache compiles and keeps it, and a
// replica reading it back from the bucket gets the same service. Before,
// such a schema was unreadable and every submission naming the service
// was retried until it expired.
func TestCachePHPEmptyForms(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	srv := &rawSchemaServer{}
	client, _ := rawSchemaClient(t, srv)
	type form struct {
		name, old, new string
		check          func(*Service) string // "" when right
	}
	var forms []form
	for _, n := range []string{`false`, `null`, `""`, `[]`, `{}`} {
		forms = append(forms,
			form{"istruzioni " + n, `"istruzioni":"PHA+U2Vydml6aW88L3A+"`, `"istruzioni":` + n, func(s *Service) string {
				if s.Instructions != "" || s.Fields[0].Instructions != "Il nome" {
					return "want no instructions for the service, the fields' kept"
				}
				return ""
			}},
			form{"a campo's istruzioni " + n, `"istruzioni":"Il nome"`, `"istruzioni":` + n, func(s *Service) string {
				if s.Fields[0].Instructions != "" || s.Fields[1].Instructions != "Il codice" || s.Instructions != "<p>Servizio</p>" {
					return "want no instructions for $0 only"
				}
				return ""
			}},
			form{"validazione " + n, `"validazione":"$0 && $1"`, `"validazione":` + n, func(s *Service) string {
				// No rule: the null flags decide, and both fields say they are required.
				if s.Rule != "" || !s.Fields[0].Required || !s.Fields[1].Required {
					return "want no rule, both fields required by their null flags"
				}
				return ""
			}},
			form{"opzioni " + n, `"opzioni":[{"tipo":"urgenza","prezzo":4,"nome":"opzione_0"}]`, `"opzioni":` + n, func(s *Service) string {
				if len(s.Options) != 0 {
					return "want no options"
				}
				return ""
			}},
		)
	}
	for _, f := range forms {
		body := strings.Replace(phpService, f.old, f.new, 1)
		if body == phpService {
			t.Fatalf("%s: %s is not in the answer", f.name, f.old)
		}
		srv.set(body)
		c := NewCache(client, kv, CacheConfig{TTL: time.Hour})
		if err := c.Invalidate(t.Context(), phpServiceHash); err != nil { // the last form's
			t.Fatal(err)
		}
		s, err := c.Service(t.Context(), "Servizio")
		if err != nil {
			t.Errorf("%s: Service = %v; want the service", f.name, err)
			continue
		}
		if len(s.Fields) != 2 || s.Hash != phpServiceHash {
			t.Errorf("%s: got %d fields, hash %s; want 2 fields of %s", f.name, len(s.Fields), s.Hash, phpServiceHash)
			continue
		}
		if msg := f.check(s); msg != "" {
			t.Errorf("%s: got rule %q, instructions %q, %+v, options %+v: %s", f.name, s.Rule, s.Instructions, s.Fields, s.Options, msg)
		}
		// Another replica, the upstream answering nothing readable: the
		// bucket's copy is the same service.
		calls := srv.count()
		srv.set(`{"data":`)
		replica, err := NewCache(client, kv, CacheConfig{TTL: time.Hour}).Service(t.Context(), phpServiceHash)
		if err != nil || srv.count() != calls {
			t.Errorf("%s: another replica: %v after %d upstream calls; want the bucket's copy, no call", f.name, err, srv.count()-calls)
			continue
		}
		if got, want := mustJSON(t, replica), mustJSON(t, s); got != want {
			t.Errorf("%s: another replica got\n%s\nwant\n%s", f.name, got, want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
