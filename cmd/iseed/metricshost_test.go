package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
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

// TestMetricsRefusedThroughAReverseProxy: behind a reverse proxy that
// routes the admin listener to the public (the console's way in, e.g.
// nginx's "location / { proxy_pass …; }"), /metrics, which names every
// tenant and what it spent, answers 403 to what the proxy forwards (it
// adds X-Forwarded-For), listed in ISEED_CONSOLE_TRUSTED_PROXIES or not.
// Prometheus scraping the listener itself still gets it, from the same
// address as a listed proxy on its host too. The walk behind nginx read
// every tenant's spend through the proxy.
func TestMetricsRefusedThroughAReverseProxy(t *testing.T) {
	for _, trusted := range []string{"127.0.0.1/32", ""} {
		t.Run("trusted proxies "+trusted, func(t *testing.T) {
			t.Setenv("ISEED_CONSOLE_TRUSTED_PROXIES", trusted)
			if trusted != "" {
				t.Setenv("ISEED_CONSOLE_TOKEN", consoleToken) // proxies without a token are refused (TestConsoleProxiesWithoutATokenRefused)
			}
			d := startCLIDaemon(t)
			admin := &url.URL{Scheme: "http", Host: d.admin.ln.Addr().String()}
			proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(admin)) // appends X-Forwarded-For
			defer proxy.Close()
			if code, body := getMetrics(t, proxy.URL+"/metrics"); code != http.StatusForbidden || strings.Contains(body, "iseed_") {
				t.Errorf("/metrics through the proxy: got %d with %d iseed_ lines; want 403 and none", code, strings.Count(body, "iseed_"))
			}
			if code, body := getMetrics(t, admin.String()+"/metrics"); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
				t.Errorf("/metrics scraped directly: got %d; want 200 with the metrics", code)
			}
		})
	}
}

func getMetrics(t *testing.T, u string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
