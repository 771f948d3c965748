package sim_test

import (
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

func stati(r richiesta) []string {
	keys := make([]string, 0, len(r.Stati))
	for k := range r.Stati {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func TestLifecycle(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now})
	id := h.create(iseeBody(nil)).ID
	t0 := c.Now().Unix()
	steps := []struct {
		advance   time.Duration
		stato     string
		stati     []string
		allegati  int
		docStatus int
	}{
		{0, "In erogazione", sorted("in_ricerca", "in_erogazione"), 0, 422},
		{59 * time.Second, "In erogazione", sorted("in_ricerca", "in_erogazione"), 0, 422},
		{time.Second, "Dati disponibili", sorted("in_ricerca", "in_erogazione", "dati_disponibili"), 1, 200},
		{time.Minute, "Visura evasa", sorted("in_ricerca", "in_erogazione", "dati_disponibili", "visura_evasa"), 1, 200},
		{time.Hour, "Visura evasa", sorted("in_ricerca", "in_erogazione", "dati_disponibili", "visura_evasa"), 1, 200},
	}
	for i, st := range steps {
		c.Advance(st.advance)
		r := h.get(id)
		if r.Stato != st.stato || !slices.Equal(stati(r), st.stati) || len(r.Allegati) != st.allegati {
			t.Errorf("step %d: got %q %v allegati %v, want %q %v %d", i, r.Stato, stati(r), r.Allegati, st.stato, st.stati, st.allegati)
		}
		if got := h.do(http.MethodGet, "/documento/"+id, nil).status; got != st.docStatus {
			t.Errorf("step %d: documento got %d, want %d", i, got, st.docStatus)
		}
	}
	r := h.get(id)
	want := map[string]int64{"in_ricerca": t0, "in_erogazione": t0, "dati_disponibili": t0 + 60, "visura_evasa": t0 + 120}
	if !reflect.DeepEqual(r.Stati, want) || r.TimestampLast != t0+120 || r.TimestampFirst != t0 {
		t.Errorf("timestamps: got %v last %d creation %d, want %v last %d", r.Stati, r.TimestampLast, r.TimestampFirst, want, t0+120)
	}
	if r.Allegati[0] != id+".pdf" {
		t.Errorf("allegati: got %v, want [%s.pdf]", r.Allegati, id)
	}
	if h.do(http.MethodDelete, "/richiesta/"+id, nil).status != http.StatusBadRequest {
		t.Errorf("DELETE of an evasa request: want 400")
	}
}

func TestCancelRate(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now, CancelRate: 1})
	id := h.create(iseeBody(nil)).ID
	c.Advance(time.Minute)
	r := h.get(id)
	if r.Stato != "Annullata" || r.Motivo == "" || r.Esito["codice"] == "0" || !slices.Equal(stati(r), sorted("in_ricerca", "in_erogazione", "annullata")) {
		t.Errorf("got %+v, want Annullata with motivo, a failure esito and in_ricerca/in_erogazione/annullata", r)
	}
	if got := h.do(http.MethodGet, "/documento/"+id, nil); got.status != 422 || got.code() != 247 {
		t.Errorf("documento of an Annullata: got %d/%d, want 422/247", got.status, got.code())
	}
}

// TestCancelRateDeterministic: the same seed dooms the same requests, and
// about CancelRate of them.
func TestCancelRateDeterministic(t *testing.T) {
	outcomes := func(seed int64) []bool {
		c := newClock()
		h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now, CancelRate: 0.3, Seed: seed, Wallet: 1e6})
		ids := make([]string, 200)
		for i := range ids {
			ids[i] = h.create(iseeBody(nil)).ID
		}
		c.Advance(3 * time.Minute)
		out := make([]bool, len(ids))
		for i, id := range ids {
			out[i] = h.get(id).Stato == "Annullata"
		}
		return out
	}
	a, b, other := outcomes(42), outcomes(42), outcomes(43)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed: outcomes differ")
	}
	if reflect.DeepEqual(a, other) {
		t.Errorf("different seeds: identical outcomes")
	}
	n := 0
	for _, x := range a {
		if x {
			n++
		}
	}
	if n < 40 || n > 80 {
		t.Errorf("cancelled: got %d of 200, want about 60", n)
	}
}

func TestDelete(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now})
	tests := []struct {
		name   string
		body   map[string]any
		motivo any
		want   string
		state  int
	}{
		{"in erogazione", iseeBody(nil), map[string]string{"motivo": "doppione"}, "doppione", 1},
		{"draft", map[string]any{"hash_visura": sim.HashISEE, "state": 0}, nil, "Annullata dal cliente", 0},
	}
	for _, tt := range tests {
		id := h.create(tt.body).ID
		c.Advance(10 * time.Second)
		raw := h.ok(http.MethodDelete, "/richiesta/"+id, tt.motivo)
		checkKeys(t, "cancelled request", raw, sorted(append(oasKeys("Richiesta"), "motivo_annullamento")...))
		r := decode[richiesta](t, raw)
		if r.Stato != "Annullata" || r.Motivo != tt.want || r.State != tt.state || r.Esito["codice"] != "300" || r.Stati["annullata"] != c.Now().Unix() {
			t.Errorf("%s: got %+v, want Annullata now with motivo %q, esito 300, state %d", tt.name, r, tt.want, tt.state)
		}
		c.Advance(5 * time.Minute) // the lifecycle does not resume
		if r := h.get(id); r.Stato != "Annullata" || r.Stati["dati_disponibili"] != 0 {
			t.Errorf("%s later: got %q %v, want still Annullata", tt.name, r.Stato, r.Stati)
		}
	}
	// A request with data available can still be cancelled; it loses its document.
	id := h.create(iseeBody(nil)).ID
	c.Advance(time.Minute)
	h.ok(http.MethodDelete, "/richiesta/"+id, nil)
	if _, _, ok := h.sim.Document(id); ok {
		t.Errorf("document of a cancelled request: got ok, want none")
	}
}

func TestDraft(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now})
	d := h.create(map[string]any{
		"hash_visura": sim.HashISEE, "state": 0, "opzioni": map[string]bool{"opzione_0": true},
		"json_visura": map[string]string{"$0": "Mario", "$1": "Rossi"},
	})
	if d.State != 0 || d.Stato != "In ricerca" || len(d.Stati) != 0 || h.sim.Wallet() != 1000 {
		t.Fatalf("draft: got %+v wallet %v, want state 0, In ricerca, no stati, nothing charged", d, h.sim.Wallet())
	}
	c.Advance(time.Hour)
	if r := h.get(d.ID); r.Stato != "In ricerca" {
		t.Errorf("draft an hour later: got %q, want In ricerca", r.Stato)
	}
	// Closing an incomplete draft fails and changes nothing.
	bad := map[string]any{"state": 1, "json_visura.$2": "a@b.it"}
	if r := h.do(http.MethodPut, "/richiesta/"+d.ID, bad); r.status != 412 || r.code() != 229 {
		t.Fatalf("close incomplete: got %d/%d, want 412/229", r.status, r.code())
	}
	// Edit, then close.
	h.ok(http.MethodPut, "/richiesta/"+d.ID, map[string]any{
		"json_visura":    map[string]string{"$2": "a@b.it", "$3": "333", "$4": "RSSMRA80A01H501U"},
		"json_visura.$5": "ci.pdf|data:application/pdf;base64,AAAA", "email_target": "ops@example.com",
	})
	if h.sim.Wallet() != 1000 {
		t.Errorf("edit charged: wallet %v", h.sim.Wallet())
	}
	c.Advance(time.Second)
	r := decode[richiesta](t, h.ok(http.MethodPut, "/richiesta/"+d.ID, map[string]any{"state": 1, "json_visura.$6": "cf.pdf|data:application/pdf;base64,AAAA"}))
	now := c.Now().Unix()
	if r.State != 1 || r.Stato != "In erogazione" || r.Stati["in_erogazione"] != now || r.TimestampFirst == now {
		t.Errorf("closed draft: got %+v, want state 1, In erogazione since now", r)
	}
	if got := h.sim.Wallet(); got != 1000-12-4 {
		t.Errorf("wallet: got %v, want %v (price + urgenza)", got, 1000-12-4)
	}
	if cnt := h.sim.Counters(); cnt["created"] != 1 || cnt["charged"] != 1 {
		t.Errorf("counters: got created %d charged %d, want 1 1", cnt["created"], cnt["charged"])
	}
	if r := h.do(http.MethodPut, "/richiesta/"+d.ID, map[string]any{"state": 1}); r.status != 400 || r.code() != 239 {
		t.Errorf("second close: got %d/%d, want 400/239", r.status, r.code())
	}
	c.Advance(2 * time.Minute)
	if r := h.get(d.ID); r.Stato != "Visura evasa" {
		t.Errorf("closed draft later: got %q, want Visura evasa", r.Stato)
	}
}

func TestListRequests(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now, Wallet: 1e6})
	var ids []string
	for i := range 3000 {
		body := iseeBody(nil)
		if i%2 == 1 {
			body = map[string]any{"hash_visura": sim.HashISEE, "state": 0}
		}
		ids = append(ids, h.createDirect(body).ID)
	}
	list := decode[[]struct {
		ID    string `json:"_id"`
		State int    `json:"state"`
	}](t, h.ok(http.MethodGet, "/richiesta", nil))
	if len(list) != len(ids) {
		t.Fatalf("GET /richiesta: got %d, want %d", len(list), len(ids))
	}
	for i, item := range list { // newest first
		if want := ids[len(ids)-1-i]; item.ID != want || item.State != (len(ids)-i)%2 {
			t.Fatalf("item %d: got %+v, want %s state %d", i, item, want, (len(ids)-i)%2)
		}
	}
	if got := h.sim.Counters(); got["created"] != 3000 || got["charged"] != 1500 || got["GET /richiesta"] != 1 {
		t.Errorf("counters: got %v, want created 3000 charged 1500", got)
	}
}

func TestLifetimePacesRequests(t *testing.T) {
	c := newClock()
	var asked []string
	life := func(hash string, submitted time.Time, seq uint64) (time.Duration, time.Duration) {
		asked = append(asked, fmt.Sprintf("%s %d %d", hash, submitted.Unix(), seq))
		if seq == 1 {
			return 5 * time.Hour, 100 * time.Hour
		}
		return 2 * time.Hour, time.Hour // clamped: ready at done
	}
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now, Lifetime: life})
	first, second := h.create(iseeBody(nil)).ID, h.create(iseeBody(nil)).ID
	steps := []struct {
		advance       time.Duration
		first, second string
	}{
		{time.Hour - time.Second, "In erogazione", "In erogazione"},
		{time.Second, "In erogazione", "Visura evasa"},
		{4 * time.Hour, "Dati disponibili", "Visura evasa"},
		{95 * time.Hour, "Visura evasa", "Visura evasa"},
	}
	for i, st := range steps {
		c.Advance(st.advance)
		if got := [2]string{h.get(first).Stato, h.get(second).Stato}; got != [2]string{st.first, st.second} {
			t.Errorf("step %d: got %v, want [%s %s]", i, got, st.first, st.second)
		}
	}
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC).Unix()
	if want := []string{fmt.Sprintf("%s %d 1", sim.HashISEE, t0), fmt.Sprintf("%s %d 2", sim.HashISEE, t0)}; !slices.Equal(asked, want) {
		t.Errorf("Lifetime asked %v, want %v", asked, want)
	}
}
