package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/ledger"
)

// TestConsoleLogoutReachesEveryDaemon runs two daemons on one NATS server
// with one console token, as two replicas behind a load balancer: a
// session logged in on the first is accepted by the second, and once
// logged out on the first, refused by the second too.
func TestConsoleLogoutReachesEveryDaemon(t *testing.T) {
	consoles := startConsoles(t, 2)
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.PostForm(consoles[0]+"/login", url.Values{"token": {consoleToken}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "iseed_console" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("login: got %d and no session cookie", resp.StatusCode)
	}
	get := func(console string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, console+"/", nil)
		req.AddCookie(cookie)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var page string
	waitUntil(t, 20*time.Second, "the second daemon's console to accept the session", func() bool {
		code, body := get(consoles[1])
		page = body
		return code == http.StatusOK
	})
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF field on the overview:\n%s", page)
	}
	req, _ := http.NewRequest(http.MethodPost, consoles[0]+"/logout", strings.NewReader(url.Values{"csrf": {m[1]}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	if resp, err = cl.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout on the first daemon: got %d, want 303", resp.StatusCode)
	}
	waitUntil(t, 10*time.Second, "the second daemon's console to refuse the logged-out session", func() bool {
		code, _ := get(consoles[1])
		return code == http.StatusSeeOther
	})
}

// consoleToken is the console token of the daemons startConsoles starts.
const consoleToken = "console-token-for-two-daemons-0123456789"

// startConsoles runs n daemons on one NATS server, with the simulator,
// consoleToken and the environment set beforehand, until the test ends,
// and returns their consoles' URLs.
func startConsoles(t *testing.T, n int, mods ...func(*Config)) []string {
	t.Helper()
	var consoles []string
	for _, d := range startConsoleDaemons(t, n, mods...) {
		consoles = append(consoles, "http://"+d.admin.ln.Addr().String())
	}
	return consoles
}

// startConsoleDaemons is startConsoles, returning the daemons.
func startConsoleDaemons(t *testing.T, n int, mods ...func(*Config)) []*daemon {
	t.Helper()
	cliEnv(t)
	t.Setenv("ISEED_CONSOLE_TOKEN", consoleToken)
	t.Setenv("ISEED_SIM_STEP", "1h")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range mods {
		mod(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var daemons []*daemon
	for range n {
		c := *cfg
		c.DataDir = t.TempDir() // each daemon locks its own
		d, err := newDaemon(ctx, &c, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- d.run(ctx) }()
		t.Cleanup(func() { cancel(); <-done; d.close() })
		daemons = append(daemons, d)
	}
	return daemons
}

// TestConsoleTrustedProxies: with ISEED_CONSOLE_TRUSTED_PROXIES naming the
// reverse proxy (here loopback), wrong tokens are limited by the address
// the proxy forwards: a stranger's guesses do not lock out the operator
// behind the same proxy.
func TestConsoleTrustedProxies(t *testing.T) {
	t.Setenv("ISEED_CONSOLE_TRUSTED_PROXIES", "127.0.0.1/32")
	site := startConsoles(t, 1)[0]
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func(client, token string) int {
		req, _ := http.NewRequest(http.MethodPost, site+"/login", strings.NewReader(url.Values{"token": {token}, "next": {"/"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", client)
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var got []int
	for range 20 {
		if got = append(got, login("198.51.100.7", "wrong-token-of-a-stranger")); got[len(got)-1] == http.StatusTooManyRequests {
			break
		}
	}
	if got[len(got)-1] != http.StatusTooManyRequests {
		t.Fatalf("a stranger's wrong logins: got %v, never 429", got)
	}
	if code := login("198.51.100.8", consoleToken); code != http.StatusSeeOther {
		t.Errorf("the operator's login through the same proxy: got %d, want 303", code)
	}
}

// TestConsoleSpendShowsEveryCap runs the daemon with caps set by `iseed
// budget set` and money counted and entered in the ledger: the spend page
// shows a tenant's request caps, the account's caps in their own row with
// every tenant's spend, a tenant with caps and no spend, the default
// tenant caps on a tenant without caps of its own and beside a tenant's
// own, what counted against each cap beside the ledger's spend, and the
// reached cap marked.
// Days end in capsZone: in Europe/Rome the page read after midnight there
// showed a new day, with nothing counted yet.
func TestConsoleSpendShowsEveryCap(t *testing.T) {
	site := startConsoles(t, 1, inCapsZone)[0]
	for _, args := range [][]string{
		{"budget", "set", "--tenant", "acme", "--daily-requests", "1", "--monthly-requests", "5"},
		{"budget", "set", "--tenant", "initech", "--monthly-eur", "50"},
		{"budget", "set", "--account", "--monthly-eur", "1000", "--daily-requests", "10"},
		{"budget", "set", "--tenant-default", "--monthly-eur", "100"},
		{"budget", "pause", "--tenant", "initech"},
	} {
		if _, errOut, code := runCLI(t, args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	ctx := context.Background()
	c, err := openCLI(ctx, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	b, err := budget.New(c.res.Budgets, c.res.BudgetUsage, budget.Config{Location: capsZone})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, "acme", "emp-1", 1170, time.Now()); err != nil {
		t.Fatal(err)
	}
	l := ledger.New(c.js, c.res.Ledger, ledger.Config{Prefix: c.res.Layout.Prefix})
	for _, e := range []ledger.Entry{
		{Tenant: "acme", SubmissionID: "emp-1", RequestID: "req-1", ServiceHash: "h", ServicePrice: 1170, Price: 1170, Source: ledger.SourcePosted},
		{Tenant: "globex", SubmissionID: "emp-2", RequestID: "req-2", ServiceHash: "h", ServicePrice: 1600, Price: 1600, Source: ledger.SourcePosted},
	} {
		if err := l.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	page := getPage(t, site+"/spend")
	for _, w := range []struct{ row, code, want string }{
		{`data-tenant="acme"`, "tenant_day_requests", "1 of 1 reached 1 in flight"},
		{`data-tenant="acme"`, "tenant_month_requests", "1 of 5 1 in flight"},
		{`data-tenant="acme"`, "tenant_day_eur", "—"},
		{`data-tenant="acme"`, "tenant_month_eur", "€ 11.70 of € 100.00 1 in flight"}, // the default's
		{`data-tenant="initech"`, "tenant_month_eur", "€ 0.00 of € 50.00"},            // its own over the default
		{`data-tenant="globex"`, "tenant_month_eur", "€ 0.00 of € 100.00"},            // no caps of its own: the default
		{`data-tenant="globex"`, "tenant_day_eur", "—"},
		{`id="spend-account"`, "account_month_eur", "€ 11.70 of € 1000.00 1 in flight"},
		{`id="spend-account"`, "account_day_requests", "1 of 10 1 in flight"},
		{`id="spend-account"`, "account_day_eur", "—"},
	} {
		if got := cellOf(page, w.row, w.code); got != w.want {
			t.Errorf("%s %s: got %q, want %q", w.row, w.code, got, w.want)
		}
	}
	if !regexp.MustCompile(`id="spend-account"><td>account \(all tenants\)</td><td class="num">€ 27.70</td><td class="num">2</td>`).MatchString(page) {
		t.Errorf("the account's row does not total the ledger's € 27.70 and 2 requests today:\n%s", page)
	}
	for row, want := range map[string]bool{`data-tenant="initech"`: true, `data-tenant="acme"`: false, `id="spend-account"`: false} {
		if got := regexp.MustCompile(`<tr[^>]*` + regexp.QuoteMeta(row) + `[^>]*><td>[^<]*(<a [^>]*>[^<]*</a>)?[^<]*<strong class="bad paused">paused</strong>`).MatchString(page); got != want {
			t.Errorf("%s says paused: %v, want %v", row, got, want)
		}
	}
}

// getPage returns the body of a console page read with the token.
func getPage(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+consoleToken)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: got %d, want 200:\n%s", url, resp.StatusCode, body)
	}
	return string(body)
}

// cellOf is the text of the cell of cap code in the spend table's row
// marked by row, or "no cell" / "no row".
func cellOf(page, row, code string) string {
	for _, tr := range regexp.MustCompile(`(?s)<tr[^>]*>.*?</tr>`).FindAllString(page, -1) {
		if !strings.Contains(tr, row) {
			continue
		}
		_, rest, ok := strings.Cut(tr, `data-cap="`+code+`">`)
		if !ok {
			return "no cell"
		}
		td, _, _ := strings.Cut(rest, "</td>")
		text := regexp.MustCompile(`<[^>]+>`).ReplaceAllString(td, " ")
		return strings.Join(strings.Fields(text), " ")
	}
	return "no row"
}

// TestConsoleSpendShowsTheDefaultCapHoldingANewTenant: a tenant with no
// caps of its own and nothing in the ledger, held by the default tenant
// caps (a daily euro cap below one request's price), gets a row with the
// default's cap, marked as the one that holds it, as for a tenant's own.
func TestConsoleSpendShowsTheDefaultCapHoldingANewTenant(t *testing.T) {
	d := startConsoleDaemons(t, 1, inCapsZone)[0]
	site := "http://" + d.admin.ln.Addr().String()
	if _, errOut, code := runCLI(t, "budget", "set", "--tenant-default", "--daily-eur", "5"); code != 0 {
		t.Fatalf("budget set: exit %d: %s", code, errOut)
	}
	waitUntil(t, 20*time.Second, "the daemon to have the default tenant caps", func() bool { return d.pipeline.CapsApply("newbie") })
	out, errOut, code := runCLI(t, "submit", "--tenant", "newbie", "--wait", "--timeout", "3s", eventFile(t, "nb-1", nil))
	if code != exitTimeout || !strings.Contains(out, "nb-1 is held") {
		t.Fatalf("submit: exit %d, stdout %q, stderr %q; want it held by the default cap", code, out, errOut)
	}
	var got string
	waitUntil(t, 20*time.Second, "the spend page to show newbie's held submission", func() bool {
		got = cellOf(getPage(t, site+"/spend"), `data-tenant="newbie"`, "tenant_day_eur")
		return got != "no row"
	})
	if want := "€ 0.00 of € 5.00 reached € 5.00 left: less than the held submission's price"; got != want {
		t.Errorf("newbie tenant_day_eur: got %q, want %q", got, want)
	}
}
