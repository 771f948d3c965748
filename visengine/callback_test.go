package visengine_test

import (
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

// TestReadCallback: a callback body is read as it streams; only what tells
// a callback from another is kept, within CallbackMemory however large
// the input the upstream echoes around it.
func TestReadCallback(t *testing.T) {
	const secret = `{"secret":"s3"}`
	cb := `"callback_data":{"url":"https://iseed.example.com/callbacks/acme/emp-1","method":"JSON","field":"data","data":` + secret + `}`
	tests := []struct {
		name       string
		body       io.Reader
		stato, out string // out: callback_data.data; "" for none
		fails      bool
	}{
		{"plain", strings.NewReader(`{"data":{"_id":"r1","stato_richiesta":"visura evasa",` + cb + `}}`), "Visura evasa", secret, false},
		{"white space and other members first", strings.NewReader("\ufeff \n" + `{"success":true,"data":{"stato_richiesta":"In erogazione",` + cb + `}}`), "In erogazione", secret, false},
		{"no callback_data", strings.NewReader(`{"data":{"_id":"r1","callback_data":false}}`), "", "", false},
		{"callback_data too large to keep", strings.NewReader(`{"data":{"callback_data":{"data":"` + strings.Repeat("x", 8<<10) + `"}}}`), "", "", false},
		{"data not a request", strings.NewReader(`{"data":"x"}`), "", "", true},
		{"not JSON", strings.NewReader(`{{{`), "", "", true},
		{"cut", strings.NewReader(`{"data":{` + cb), "", "", true},
		{"echoing 64 MiB of scans", io.MultiReader(
			strings.NewReader(`{"data":{"_id":"r1","ricerche":[{"json_ricerca":"{\"$5\":\"carta.pdf|data:application/pdf;base64,`),
			repeated("JVBERi0xLjQK", 32<<20),
			strings.NewReader(`\"}","json_mappato":{"Copia":"carta.pdf|data:application/pdf;base64,`),
			repeated("JVBERi0xLjQK", 32<<20),
			strings.NewReader(`"}}],"stato_richiesta":"Visura evasa",`+cb+`}}`)), "Visura evasa", secret, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r, err := visengine.ReadCallback(tt.body)
			runtime.ReadMemStats(&after)
			if tt.fails {
				if err == nil {
					t.Errorf("got %+v, want an error", r)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var out string
			if r.CallbackData.CallbackData != nil {
				out = string(r.CallbackData.CallbackData.Data)
			}
			if r.StatoRichiesta != tt.stato || out != tt.out {
				t.Errorf("got state %q and data %q, want %q and %q", r.StatoRichiesta, out, tt.stato, tt.out)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4*visengine.CallbackMemory {
				t.Errorf("allocated %d bytes, want at most %d", alloc, 4*visengine.CallbackMemory)
			}
		})
	}
}
