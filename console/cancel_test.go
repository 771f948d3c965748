package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// putHeld stores the record of a submission a spending cap holds, with an
// attempt pending when posting (a release whose POST may have gone).
func putHeld(h *pipetest.Harness, id string, posting bool) {
	h.PutRecord(id, pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.State, r.Reason, r.HeldSince, r.Attempts = record.StateHeld, "budget", time.Now(), 0
		if posting {
			r.Attempts = 1
			r.Pending = &record.Attempt{Started: time.Now(), Owner: "another", Until: time.Now().Add(time.Hour)}
		}
	})
}

// TestCancelHeldFromTheConsole: an operator cancels a held submission from
// its page, through a confirmation, as iseed cancel does: the record is
// marked, the page says so. A claimed one a worker holds waiting for its
// upstream token is offered and cancelled too. One being sent (held or
// claimed), an unknown one and a forged or
// cross-site post are refused, nothing changed; a read-only console shows
// no button, only the command.
func TestCancelHeldFromTheConsole(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	putHeld(h, "emp-h", false)
	putHeld(h, "emp-posting", true)
	// Claimed: one a worker holds waiting for its upstream token (nothing
	// sent: cancellable), one whose POST may have gone (not).
	h.PutRecord("emp-waiting", pipetest.ValidFields("Anna"), func(r *record.Record) {
		r.Pending = &record.Attempt{Started: time.Now(), Owner: "another", Until: time.Now().Add(time.Hour), Unsent: true}
	})
	h.PutRecord("emp-claimed-posting", pipetest.ValidFields("Anna"), func(r *record.Record) {
		r.Pending = &record.Attempt{Started: time.Now(), Owner: "another", Until: time.Now().Add(time.Hour)}
	})
	cookie := s.login(t)
	page := "/submission?tenant=" + pipetest.Tenant + "&id=emp-h"
	csrf := s.csrfOf(t, cookie, "/submission/cancel?tenant="+pipetest.Tenant+"&id=emp-h")
	form := func(id string) url.Values { return url.Values{"tenant": {pipetest.Tenant}, "id": {id}} }
	get, post := http.MethodGet, http.MethodPost
	runCalls(t, s, []call{
		{name: "held: a cancel button", method: get, path: page, auth: "cookie", status: 200, body: `id="cancel-held"`},
		{name: "claimed, waiting for its token: a cancel button", method: get, path: "/submission?tenant=" + pipetest.Tenant + "&id=emp-waiting", auth: "cookie", status: 200, body: `id="cancel-held"`},
		{name: "claimed, a POST in doubt: no cancel button", method: get, path: "/submission?tenant=" + pipetest.Tenant + "&id=emp-claimed-posting", auth: "cookie", status: 200, notBody: `id="cancel-held"`},
		{name: "confirmation", method: get, path: "/submission/cancel?tenant=" + pipetest.Tenant + "&id=emp-h", auth: "cookie", status: 200, body: `id="confirm-cancel-held"`},
		{name: "forged CSRF", method: post, path: "/submission/cancel", form: form("emp-h"), auth: "cookie", csrf: "wrong", status: 403},
		{name: "cross-site", method: post, path: "/submission/cancel", form: form("emp-h"), auth: "cookie", csrf: "valid", cross: true, status: 403},
		{name: "being sent", method: post, path: "/submission/cancel", form: form("emp-posting"), auth: "cookie", csrf: "valid", status: 409, body: "too late to cancel"},
		{name: "claimed, being sent", method: post, path: "/submission/cancel", form: form("emp-claimed-posting"), auth: "cookie", csrf: "valid", status: 409, body: "too late to cancel"},
		{name: "claimed, waiting for its token: cancelled", method: post, path: "/submission/cancel", form: form("emp-waiting"), auth: "cookie", csrf: "valid", status: 303},
		{name: "unknown", method: post, path: "/submission/cancel", form: form("emp-nobody"), auth: "cookie", csrf: "valid", status: 404, body: "Not cancelled"},
		{name: "not an id", method: post, path: "/submission/cancel", form: form("emp.x"), auth: "cookie", csrf: "valid", status: 400},
	}, cookie, csrf)
	if r := h.Record("emp-waiting"); r.CancelRequested.IsZero() || r.Pending == nil || r.Pending.Until.After(time.Now()) {
		t.Errorf("emp-waiting after its cancel: cancel requested %s, pending %+v; want marked, its lease ended", r.CancelRequested, r.Pending)
	}
	for _, id := range []string{"emp-h", "emp-posting", "emp-claimed-posting"} {
		if r := h.Record(id); !r.CancelRequested.IsZero() {
			t.Fatalf("%s after the refused cancels: cancel requested %s, want untouched", id, r.CancelRequested)
		}
	}

	resp, body := s.do(t, call{method: post, path: "/submission/cancel", form: form("emp-h"), auth: "cookie", csrf: "valid"}, cookie, csrf)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/submission?") {
		t.Fatalf("cancel: got %d to %q, want 303 to the submission's page\n%s", resp.StatusCode, loc, body)
	}
	if r := h.Record("emp-h"); r.State != record.StateHeld || r.CancelRequested.IsZero() {
		t.Fatalf("emp-h after the cancel: %s, cancel requested %s; want held, marked (no pipeline runs here to fail it)", r.State, r.CancelRequested)
	}
	_, body = s.do(t, call{method: get, path: loc, auth: "cookie"}, cookie, "")
	for _, want := range []string{`id="cancelled"`, `id="rec-cancel-requested"`, "by an operator (iseed cancel)"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page after the cancel lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, `id="cancel-held"`) {
		t.Error("the page after the cancel still offers to cancel it")
	}
	_, body = s.do(t, call{method: get, path: page + "&cancelled=1", auth: "cookie"}, cookie, "")
	if strings.Contains(body, `id="cancelled"`) {
		t.Error("an unsigned notice says the submission was cancelled")
	}

	ro := newSite(t, h, "", nil)
	putHeld(h, "emp-ro", false)
	runCalls(t, ro, []call{
		{name: "read-only: no button, the command", method: get, path: "/submission?tenant=" + pipetest.Tenant + "&id=emp-ro", status: 200,
			body: "iseed cancel --tenant " + pipetest.Tenant + " emp-ro", notBody: `id="cancel-held"`},
		{name: "read-only: refused", method: post, path: "/submission/cancel", form: form("emp-ro"), status: 403},
	}, nil, "")
	if r := h.Record("emp-ro"); !r.CancelRequested.IsZero() {
		t.Errorf("emp-ro after a read-only console's refusal: cancel requested %s, want untouched", r.CancelRequested)
	}
}
