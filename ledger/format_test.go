package ledger_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/iseed-dev/iseed/ledger"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func goldenLines() []ledger.Line {
	return []ledger.Line{
		{Tenant: "acme", Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", Requests: 2, Amount: 3200},
		{Tenant: "acme", Service: "DIMISSIONI VOLONTARIE", ServiceHash: "232489febe7e589192ac50dee2a05a56", Requests: 1, Amount: 1990},
		{Tenant: "beta-srl", Service: "Calcolo e Previsione Pensione", ServiceHash: "1f9dfd7e9a73918756470d9618fb317d", Requests: 12, Amount: 42000},
		{Tenant: "gamma", Service: "ISEE, urgente \"x\"", ServiceHash: "h", Requests: 1, Amount: 5},
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		file  string
		write func(*bytes.Buffer, []ledger.Line) error
		lines []ledger.Line
	}{
		{"report.txt", func(b *bytes.Buffer, l []ledger.Line) error { return ledger.WriteTable(b, l) }, goldenLines()},
		{"report.csv", func(b *bytes.Buffer, l []ledger.Line) error { return ledger.WriteCSV(b, l) }, goldenLines()},
		{"report.json", func(b *bytes.Buffer, l []ledger.Line) error { return ledger.WriteJSON(b, l) }, goldenLines()},
		{"empty.txt", func(b *bytes.Buffer, l []ledger.Line) error { return ledger.WriteTable(b, l) }, nil},
		{"empty.json", func(b *bytes.Buffer, l []ledger.Line) error { return ledger.WriteJSON(b, l) }, nil},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := tt.write(&buf, tt.lines); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		path := filepath.Join("testdata", tt.file)
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create it)", tt.file, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s: got\n%s\nwant\n%s", tt.file, buf.Bytes(), want)
		}
	}
}
