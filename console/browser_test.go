package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// browser is a headless Chromium driven over the DevTools protocol, on one
// console.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	out  string // where screenshots go
}

// chromiumPath finds Chromium: $ISEED_CHROMIUM, or chromium on the PATH.
func chromiumPath() string {
	if p := os.Getenv("ISEED_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is $ISEED_TEST_OUT/console, or a directory removed after
// the test.
func screenshotDir(t *testing.T) string {
	if out := os.Getenv("ISEED_TEST_OUT"); out != "" {
		dir := filepath.Join(out, "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// newBrowser starts Chromium with a fresh profile; it stops when the test
// ends.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Skip("no Chromium found (apt-get install -y chromium, or set ISEED_CHROMIUM): skipping the browser test")
	}
	out := screenshotDir(t)
	profile := t.TempDir() // removed after the browser stops (cleanups run last first)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 1000))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, without a deadline
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return &browser{t: t, ctx: ctx, base: base, out: out}
}

// step runs a; it fails the test after 30 seconds.
func step[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// open loads path and waits until sel is visible.
func (b *browser) open(path, sel string) {
	b.t.Helper()
	step(b, "open "+path, chromedp.Navigate(b.base+path))
	step(b, "wait for "+sel+" on "+path, chromedp.WaitVisible(chromedp.CSS(sel)))
}

// click clicks sel, waits for the page it loads and then for next.
func (b *browser) click(sel, next string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: click %s: %v", sel, err)
	}
	if resp.Status >= 400 {
		b.t.Fatalf("browser: click %s: HTTP %d", sel, resp.Status)
	}
	step(b, "wait for "+next, chromedp.WaitVisible(chromedp.CSS(next)))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return step(b, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	return len(step(b, "count "+sel, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0))))
}

func (b *browser) location() string {
	b.t.Helper()
	return step(b, "location", chromedp.Location())
}

// shot writes a screenshot of the whole page as <name>.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := step(b, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(b.out, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// expect fails the test unless got contains want.
func expect(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s: got %q, want it to contain %q", what, got, want)
	}
}

// threeSubmissions runs the pipeline on h until it has dead-lettered one
// submission for want of credit (emp-credit), submitted one (emp-ok) and
// rejected one (emp-bad); it returns the dead letter of emp-credit.
func threeSubmissions(t *testing.T, h *pipetest.Harness) dlq.DeadLetter {
	t.Helper()
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	h.Start()
	h.Publish(pipetest.Submission("emp-credit", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-credit", record.StateFailed)
	h.Sim.SetFaults(sim.Faults{})
	h.Publish(pipetest.Submission("emp-ok", pipetest.ValidFields("Mario")), nil)
	h.Publish(pipetest.Submission("emp-bad", map[string]any{"Nome": "Mario"}), nil)
	h.WaitState("emp-ok", record.StateSubmitted)
	h.WaitState("emp-bad", record.StateRejected)
	var credit dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, "two dead letters", func() bool {
		dls := h.DeadLetters()
		for _, dl := range dls {
			if dl.SubmissionID == "emp-credit" {
				credit = dl
			}
		}
		return len(dls) == 2 && credit.Seq != 0
	})
	return credit
}

// waitCounted waits until the overview counts what threeSubmissions made.
func waitCounted(t *testing.T, ov *overview.Overview, open, dead int) {
	t.Helper()
	pipetest.WaitFor(t, 20*time.Second, "the overview to count the submissions", func() bool {
		s, err := ov.Snapshot(context.Background())
		return err == nil && s.Ready && s.Requests.OpenTotal == open && s.DeadLettersTotal == dead
	})
}

func spendOf(context.Context) (*console.Spend, error) {
	month := budget.Usage{Spent: 31250, Requests: 26, CapEUR: 100000, CapRequests: 26}
	return &console.Spend{Tenants: []console.TenantSpend{
		{Tenant: "acme", TodayEUR: 2400, MonthEUR: 31250, TodayRequests: 2, MonthRequests: 26, Caps: console.Counted{Month: month}},
		{Tenant: "globex", TodayEUR: 0, MonthEUR: 4800, MonthRequests: 4},
	}, Account: console.Counted{Day: budget.Usage{Spent: 2400, Requests: 2, CapEUR: 50000}}}, nil
}

// TestBrowserOperator logs in with the token, reads every page with data
// from the real pipeline, finds a submission's timeline, and replays a dead
// letter end to end.
func TestBrowserOperator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	h := pipetest.New(t)
	credit := threeSubmissions(t, h)
	s := newSite(t, h, testToken, spendOf)
	waitCounted(t, s.ov, 1, 2)
	b := newBrowser(t, s.url)

	b.open("/", "#token") // redirected to the login form
	b.shot("login")
	step(b, "type the token", chromedp.SendKeys(chromedp.ID("token"), testToken))
	b.click("#login", "#open-by-state")
	if got := b.location(); got != s.url+"/" {
		t.Errorf("after login: at %s, want %s/", got, s.url)
	}
	expect(t, "mode", b.text("#mode"), "operator")
	expect(t, "submitted", b.text(`td[data-state="submitted"]`), "1")
	expect(t, "dead letters", b.text("#dead-total"), "2")
	expect(t, "insufficient credit", b.text(`td[data-reason="upstream_rejected"]`), "1")
	expect(t, "invalid", b.text(`td[data-reason="invalid"]`), "1")
	expect(t, "oldest", b.text("#oldest"), "acme/emp-ok")
	b.shot("overview")

	b.open("/submission", "#search")
	step(b, "type the tenant", chromedp.SendKeys(chromedp.ID("search-tenant"), pipetest.Tenant))
	step(b, "type the id", chromedp.SendKeys(chromedp.ID("search-id"), "emp-ok"))
	b.click("#search-go", "#timeline")
	expect(t, "request id", b.text("#rec-request"), h.Record("emp-ok").RequestID)
	expect(t, "events", b.text("#events"), "iseed.submission.submitted")
	b.shot("submission")
	b.open("/submission?tenant=acme&id=emp-bad", "#timeline")
	expect(t, "rejected state", b.text("#rec-state"), "rejected")
	expect(t, "its dead letter", b.text("#submission-dead-letters"), "invalid")
	b.shot("submission-rejected")

	b.open("/open", "#open-requests")
	expect(t, "open requests", b.text("#open-requests"), "emp-ok")
	b.shot("open")
	b.open("/spend", "#spend")
	expect(t, "spend", b.text("#spend"), "312.50")
	expect(t, "monthly euro cap", b.text(`tr[data-tenant="acme"] td[data-cap="tenant_month_eur"]`), "€ 312.50 of € 1000.00")
	expect(t, "monthly request cap", b.text(`tr[data-tenant="acme"] td[data-cap="tenant_month_requests"]`), "26 of 26 REACHED")
	expect(t, "account's daily cap", b.text(`#spend-account td[data-cap="account_day_eur"]`), "€ 24.00 of € 500.00")
	b.shot("spend")

	seq := strconv.FormatUint(credit.Seq, 10)
	b.open("/dead-letters", "#dead-letters")
	b.shot("dead-letters")
	b.click("#dl-"+seq, "#dead-letter")
	expect(t, "reason", b.text("#dl-reason"), "upstream_rejected")
	if payload := b.text("#payload"); strings.Contains(payload, "Mario") || !strings.Contains(payload, "•••") {
		t.Errorf("masked payload: got %s", payload)
	}
	b.shot("dead-letter")
	b.click("#replay", "#confirm-replay")
	b.shot("replay-confirm")
	b.click("#confirm-replay", "#replayed")
	expect(t, "notice", b.text("#replayed"), "Dead letter "+seq+" was replayed")
	if n := b.count(`tr[data-seq="` + seq + `"]`); n != 0 {
		t.Errorf("the replayed dead letter is still listed (%d rows)", n)
	}
	b.shot("dead-letters-after-replay")

	r := h.WaitState("emp-credit", record.StateSubmitted)
	if r.Generation != 2 || !r.Replayed(credit.Seq) {
		t.Errorf("reprocessed record: generation %d, replays %v; want 2, [%d]", r.Generation, r.Replays, credit.Seq)
	}
	waitCounted(t, s.ov, 2, 1)
	b.open("/submission?tenant=acme&id=emp-credit", "#timeline")
	expect(t, "replayed state", b.text("#rec-state"), "submitted")
	b.shot("submission-replayed")
	b.open("/", "#open-by-state")
	expect(t, "submitted after the replay", b.text(`td[data-state="submitted"]`), "2")
	expect(t, "dead letters after the replay", b.text("#dead-total"), "1")
}

// TestBrowserReadOnly reads the console without a token: no replay button,
// the confirmation step refused, the dead letter kept.
func TestBrowserReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	h := pipetest.New(t)
	credit := threeSubmissions(t, h)
	s := newSite(t, h, "", nil)
	waitCounted(t, s.ov, 1, 2)
	b := newBrowser(t, s.url)

	b.open("/", "#open-by-state")
	expect(t, "mode", b.text("#mode"), "read-only")
	b.shot("read-only-overview")
	seq := strconv.FormatUint(credit.Seq, 10)
	b.open("/dead-letters/"+seq, "#dead-letter")
	if n := b.count("#replay, #reveal"); n != 0 {
		t.Errorf("replay and reveal controls on a read-only console: %d", n)
	}
	expect(t, "note", b.text("#read-only-note"), "iseed dlq replay "+seq)
	b.shot("read-only-dead-letter")
	step(b, "open the confirmation", chromedp.Navigate(s.url+"/dead-letters/"+seq+"/replay"))
	expect(t, "refusal", b.text("#error"), "read-only")
	b.shot("read-only-replay-refused")
	b.open("/spend", "#spend-not-configured")
	if _, err := h.Res.DLQ.GetMsg(context.Background(), credit.Seq); err != nil {
		t.Errorf("dead letter on a read-only console: %v, want it kept", err)
	}
}
