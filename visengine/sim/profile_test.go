package sim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// ricercheOf returns the raw "ricerche" of a request answer.
func ricercheOf(t *testing.T, data json.RawMessage) string {
	t.Helper()
	return string(decode[map[string]json.RawMessage](t, data)["ricerche"])
}

// inputOf returns json_ricerca of the first search, decoded.
func inputOf(t *testing.T, data json.RawMessage) map[string]string {
	t.Helper()
	var r []struct {
		JSON string `json:"json_ricerca"`
	}
	if err := json.Unmarshal([]byte(ricercheOf(t, data)), &r); err != nil || len(r) == 0 {
		t.Fatalf("ricerche: got %s (%v), want a search", ricercheOf(t, data), err)
	}
	return decode[map[string]string](t, []byte(r[0].JSON))
}

func cameraleBody() map[string]any {
	return map[string]any{"hash_visura": sim.HashVisuraCameraleCapitale, "json_visura": map[string]string{"$0": "1378273", "$1": "RM"}}
}

// TestEcho: what a request answer echoes of its input, per profile and mode.
func TestEcho(t *testing.T) {
	payload := "iVBORw0KGgo="
	tests := []struct {
		name      string
		cfg       sim.Config
		iseeEmpty bool   // ISEE (Patronato) answers "ricerche": []
		file      string // json_ricerca's $6 when echoed
	}{
		{"friendly", sim.Config{}, false, "cf.png|data:image/png;base64,"},
		{"friendly, none", sim.Config{Echo: sim.EchoNone}, true, ""},
		{"friendly, files", sim.Config{Echo: sim.EchoFiles}, false, "cf.png|data:image/png;base64," + payload},
		{"published", sim.Config{Profile: sim.ProfilePublished}, true, ""},
		{"published, values", sim.Config{Profile: sim.ProfilePublished, Echo: sim.EchoValues}, false, "cf.png|data:image/png;base64,"},
		{"published, files", sim.Config{Profile: sim.ProfilePublished, Echo: sim.EchoFiles}, false, "cf.png|data:image/png;base64," + payload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			isee := h.ok(http.MethodPost, "/richiesta", iseeBody(nil))
			id := decode[richiesta](t, isee).ID
			for _, data := range []json.RawMessage{isee, h.ok(http.MethodGet, "/richiesta/"+id, nil)} {
				if tt.iseeEmpty {
					if got := ricercheOf(t, data); got != "[]" {
						t.Errorf("ISEE ricerche: got %s, want []", got)
					}
					continue
				}
				if got := inputOf(t, data); got["$6"] != tt.file || got["$0"] != "Mario" {
					t.Errorf("ISEE json_ricerca: got %v, want $6 %q", got, tt.file)
				}
			}
			camerale := h.ok(http.MethodPost, "/richiesta", cameraleBody())
			if got := inputOf(t, camerale); got["$0"] != "1378273" || got["$1"] != "RM" {
				t.Errorf("camerale json_ricerca: got %v, want its values whatever the mode", got)
			}
		})
	}
}

// TestPublishedIDs: ids that are not 24 hex digits are answered as the
// OpenAPI examples show (404), not with the friendly 400.
func TestPublishedIDs(t *testing.T) {
	tests := []struct {
		profile      sim.Profile
		path         string
		status, code int
		msg          string
	}{
		{sim.ProfileFriendly, "/richiesta/t56yh843827583475g875hgj", 400, 201, "Invalid id"},
		{sim.ProfilePublished, "/richiesta/t56yh843827583475g875hgj", 404, 202, "no request matches this id: t56yh843827583475g875hgj"},
		{sim.ProfilePublished, "/richiesta/", 404, 202, "no request matches this id: "},
		{sim.ProfileFriendly, "/documento/4345uygyug578754g", 400, 243, "Invalid id"},
		{sim.ProfilePublished, "/documento/4345uygyug578754g", 404, 244, "no requests matches this id: 4345uygyug578754g"},
		{sim.ProfilePublished, "/documento/", 428, 242, "id required"},
		{sim.ProfilePublished, "/richiesta/0123456789abcdef01234567", 404, 202, "no request matches this id: 0123456789abcdef01234567"},
	}
	for _, tt := range tests {
		h := newHarness(t, sim.Config{Profile: tt.profile})
		r := h.do(http.MethodGet, tt.path, nil)
		if r.status != tt.status || r.code() != tt.code || r.env.Message != tt.msg {
			t.Errorf("%s GET %s: got %d/%d %q, want %d/%d %q", tt.profile, tt.path, r.status, r.code(), r.env.Message, tt.status, tt.code, tt.msg)
		}
	}
}

// TestPublishedMandate: the mandate ($7) of the person-field services says
// "null": false, as the published 730 schema does, and validazione still
// accepts a request without it.
func TestPublishedMandate(t *testing.T) {
	hashes := []string{sim.HashISEE, sim.HashISEECorrente, sim.HashRettificaISEE, sim.HashISEESocioSanitario, sim.Hash730Singolo}
	for _, p := range []sim.Profile{sim.ProfileFriendly, sim.ProfilePublished} {
		h := newHarness(t, sim.Config{Profile: p})
		for _, hash := range hashes {
			v := decode[schemaView](t, h.ok(http.MethodGet, "/visure/"+hash, nil))
			var want any = "1"
			if p == sim.ProfilePublished {
				want = false
			}
			if got := v.JSONStruttura.Campi["$7"]["null"]; got != want {
				t.Errorf("%s %s: $7 null got %#v, want %#v", p, hash, got, want)
			}
			if !strings.HasSuffix(v.JSONStruttura.Validazione, "|| ($0 && $1 && $2 && $3 && $4 && $5 && $6)") {
				t.Errorf("%s %s: validazione %q, want $7 optional", p, hash, v.JSONStruttura.Validazione)
			}
			body := iseeBody(nil)
			body["hash_visura"] = hash
			if r := h.do(http.MethodPost, "/richiesta", body); r.status != http.StatusOK {
				t.Errorf("%s %s without $7: got %d %s, want it created", p, hash, r.status, r.raw)
			}
		}
	}
}

// schemaView is the part of a service schema the tests look at.
type schemaView struct {
	JSONStruttura struct {
		Campi       map[string]map[string]any `json:"campi"`
		Validazione string                    `json:"validazione"`
	} `json:"json_struttura"`
}

func TestProfileAndEchoText(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"", true}, {"friendly", true}, {"published", true}, {"Published", false}, {"real", false},
	}
	for _, tt := range tests {
		var p sim.Profile
		if err := p.UnmarshalText([]byte(tt.in)); (err == nil) != tt.ok {
			t.Errorf("Profile %q: got %v, want ok %v", tt.in, err, tt.ok)
		}
	}
	for _, tt := range []struct {
		in string
		ok bool
	}{{"", true}, {"none", true}, {"values", true}, {"files", true}, {"all", false}} {
		var e sim.Echo
		if err := e.UnmarshalText([]byte(tt.in)); (err == nil) != tt.ok {
			t.Errorf("Echo %q: got %v, want ok %v", tt.in, err, tt.ok)
		}
	}
	resolved := []struct {
		e    sim.Echo
		p    sim.Profile
		want sim.Echo
	}{
		{"", "", sim.EchoValues}, {"", sim.ProfileFriendly, sim.EchoValues}, {"", sim.ProfilePublished, sim.EchoNone},
		{sim.EchoFiles, sim.ProfilePublished, sim.EchoFiles}, {sim.EchoNone, sim.ProfileFriendly, sim.EchoNone},
	}
	for _, tt := range resolved {
		if got := tt.e.Resolve(tt.p); got != tt.want {
			t.Errorf("Echo(%q).Resolve(%q): got %q, want %q", tt.e, tt.p, got, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("New with an unknown profile: got no panic")
		}
	}()
	sim.New(sim.Config{Token: token, Profile: "real"}).Close()
}
