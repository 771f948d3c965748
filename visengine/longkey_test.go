package visengine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestContractLongFieldName: the answers about a request echo its input in
// json_mappato, keyed by the service's field names, which the API does not
// bound (a consent to read out is a sentence). A field name longer than
// the scanner's key limit must not make the answer unreadable: the POST
// would be only partly read, and every poll of a paid request would fail
// until tracking gave up, its document never fetched.
func TestContractLongFieldName(t *testing.T) {
	long := "Dichiaro di aver letto l'informativa sul trattamento dei dati personali " +
		strings.Repeat("ai sensi del Regolamento UE 2016/679 e del D.Lgs. 196/2003 ", 4) + "*"
	catalog := sim.DefaultCatalog()
	for i := range catalog {
		if catalog[i].Hash == sim.HashISEE {
			catalog[i].Fields[3].Name = long // the phone number's field
		}
	}
	e := startSim(t, sim.Config{Catalog: catalog})
	r := e.create(t, iseeRequest())
	if r.Partial || len(r.Ricerche) != 1 {
		t.Errorf("POST: Partial %v, %d searches; want the whole answer read", r.Partial, len(r.Ricerche))
	}
	got, err := e.c.Richiesta(context.Background(), r.ID)
	if err != nil {
		t.Fatalf("GET /richiesta/{id} echoing a field name of %d bytes: %v", len(long), err)
	}
	if got.StatoRichiesta != visengine.StateInProgress || len(got.Ricerche) != 1 || got.Ricerche[0].Input["$3"] != "3331234567" {
		t.Fatalf("GET: state %q, searches %+v; want In erogazione with the input echoed", got.StatoRichiesta, got.Ricerche)
	}
	if m := got.Ricerche[0].Mapped; m != nil {
		t.Errorf("json_mappato with a key not kept: Mapped = %v, want nil (unknown)", m)
	}
}
