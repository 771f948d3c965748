package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestMetricsRefuseARebindingHost: /metrics names every tenant and what
// it spent (iseed_spend_euros_total{tenant}); a page of another origin
// whose name was resolved to the admin listener (DNS rebinding) makes the
// operator's browser ask for it with that name as Host. Like the
// console's pages, it answers IP addresses, localhost and the names of
// ISEED_CONSOLE_HOSTS only.
func TestMetricsRefuseARebindingHost(t *testing.T) {
	d := startCLIDaemon(t)
	addr := d.admin.ln.Addr().String()
	get := func(host string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("attacker.example:" + strings.Split(addr, ":")[1]); code != http.StatusMisdirectedRequest || strings.Contains(body, "iseed_") {
		t.Errorf("/metrics for Host attacker.example: got %d with %d iseed_ lines; want 421 and none", code, strings.Count(body, "iseed_"))
	}
	for _, host := range []string{addr, "localhost:" + strings.Split(addr, ":")[1]} {
		if code, body := get(host); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
			t.Errorf("/metrics for Host %s: got %d; want 200 with the metrics", host, code)
		}
	}
	if code, _ := get("attacker.example"); code != http.StatusMisdirectedRequest {
		t.Errorf("/metrics for Host attacker.example without a port: got %d, want 421", code)
	}
}
