package main

import (
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
)

// TestStatusReadsTheRecordFromItsLeader: iseed status reads the record
// from its bucket's leader, not with a direct get, which any replica
// answers and one that lags answers with an older state: with every direct
// get of the records bucket lost on its way, status still prints the
// record. When the leader does not answer, it prints a replica's copy and
// says on stderr that it may be behind.
func TestStatusReadsTheRecordFromItsLeader(t *testing.T) {
	const tenant, id, req = "acme", "emp-leader", "6b0ee1771dcdaf00000000f3"
	d, srv := startCLIDaemonOn(t)
	storeSubmitted(t, d, tenant, id, req, time.Now())
	bucket := d.res.Records.Bucket()
	proxy := natstest.NewDropProxy(t, srv.Addr().String())
	t.Setenv("ISEED_NATS_URL", proxy.URL)

	proxy.Drop = func(subject string) bool { return strings.HasPrefix(subject, "$JS.API.DIRECT.GET.KV_"+bucket) }
	out, errOut, code := runCLI(t, "status", "--tenant", tenant, id, "-o", "table")
	if code != 0 || !strings.Contains(out, record.StateSubmitted) || !strings.Contains(out, req) || errOut != "" {
		t.Errorf("status with the records' direct gets lost: exit %d, stdout %q, stderr %q; want 0 and the record, read from its leader", code, out, errOut)
	}

	proxy.Drop = func(subject string) bool { return strings.HasPrefix(subject, "$JS.API.STREAM.MSG.GET.KV_"+bucket) }
	out, errOut, code = runCLI(t, "status", "--tenant", tenant, id, "-o", "table")
	if code != 0 || !strings.Contains(out, record.StateSubmitted) || !strings.Contains(out, req) || !strings.Contains(errOut, "may be behind") {
		t.Errorf("status with the leader's reads lost: exit %d, stdout %q, stderr %q; want 0, a replica's copy of the record, and a note that it may be behind", code, out, errOut)
	}

	// A replica's "no such record" proves nothing while the leader is silent.
	out, errOut, code = runCLI(t, "status", "--tenant", tenant, "emp-unknown")
	if code != 1 || out != "" || strings.Contains(errOut, "no submission") || !strings.Contains(errOut, "leader") {
		t.Errorf("status of an unknown submission with the leader's reads lost: exit %d, stdout %q, stderr %q; want 1 and the leader's error, not \"no submission\"", code, out, errOut)
	}
}
