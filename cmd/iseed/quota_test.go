package main

import (
	"strings"
	"testing"
	"time"
)

// TestTenantQuota: with ISEED_TENANT_MAX_SUBMISSIONS, `iseed submit`
// (as any producer's publish) over a tenant's quota fails at once, nothing
// stored, saying which quota; another tenant's still go in. A serve started
// with a quota below what a tenant holds exits 2 instead of letting
// JetStream delete that tenant's oldest submissions to apply it.
func TestTenantQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon")
	}
	startCLIDaemonWith(t, func(c *Config) { c.TenantMaxSubs = 2 })
	for _, id := range []string{"q-1", "q-2"} {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, nil)); code != 0 {
			t.Fatalf("submit %s: exit %d, %s", id, code, errOut)
		}
	}
	_, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "q-3", nil))
	if code != 1 || !strings.Contains(errOut, "nothing was stored") || !strings.Contains(errOut, "ISEED_TENANT_MAX_SUBMISSIONS") {
		t.Errorf("acme's 3rd submission: exit %d, stderr %q; want 1, nothing stored, naming ISEED_TENANT_MAX_SUBMISSIONS", code, errOut)
	}
	if _, errOut, code := runCLI(t, "submit", "--tenant", "globex", eventFile(t, "q-1", nil)); code != 0 {
		t.Errorf("globex's submission while acme is at its quota: exit %d, %s", code, errOut)
	}

	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_TENANT_MAX_SUBMISSIONS", "1")
	s := startServe(t)
	var err error
	waitUntil(t, 60*time.Second, "serve with a quota below acme's 2 to exit", func() bool {
		select {
		case err = <-s.done:
			return true
		default:
			return strings.Contains(s.stderr.String(), "iseed started")
		}
	})
	if code := exitCode(err); code != 2 || err == nil || !strings.Contains(err.Error(), "acme holds 2") ||
		!strings.Contains(err.Error(), "ISEED_TENANT_MAX_SUBMISSIONS") {
		t.Errorf("serve with a quota of 1: exit %d (%v); want 2, naming acme's 2 and the variable\n%s", code, err, s.stderr.String())
	}
}
