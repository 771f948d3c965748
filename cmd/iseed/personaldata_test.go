package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/objread"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The personal values of the retention walk: a tax code and a name found
// nowhere else in the code base or its fixtures.
const (
	walkTaxCode = "QWXZYK77E19H501F"
	walkName    = "Quirinella"
	walkSurname = "Zwykowska"
)

// walkValues are the values searched for, as sent and in lower case.
func walkValues() []string {
	return []string{walkTaxCode, walkName, walkSurname, strings.ToLower(walkTaxCode), strings.ToLower(walkName), strings.ToLower(walkSurname)}
}

// walkInvalid makes a walk submission invalid (its e-mail address), with
// the person's name in what a problem may quote: the address, an inline
// file's name and media type.
func walkInvalid(f map[string]any) {
	f["$2"] = walkName + " at example"
	f["$5"] = walkSurname + "-ci.exe|data:application/x-" + walkName + ";base64,JVBERi0xLjQK"
}

// walkEvent writes a submission of the walk's person, changed by mod.
func walkEvent(t *testing.T, id string, mod func(fields map[string]any)) string {
	t.Helper()
	ev := map[string]any{
		"id": id, "service": "ISEE", "options": []string{"urgenza"},
		"fields": map[string]any{
			"$0": walkName, "$1": walkSurname, "$2": "quirinella.zwykowska@example.it", "$3": "+39 333 7654321",
			"$4": walkTaxCode, "$5": "ci.pdf|data:application/pdf;base64,JVBERi0xLjQK",
			"$6": "cf.pdf|data:application/pdf;base64,JVBERi0xLjQK",
		},
		"metadata": map[string]any{"employee": walkName + " " + walkSurname},
	}
	if mod != nil {
		mod(ev["fields"].(map[string]any))
	}
	b, _ := json.Marshal(ev)
	path := filepath.Join(t.TempDir(), id+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startWalkDaemon runs a daemon on cfg, logging at debug level into logs.
func startWalkDaemon(t *testing.T, cfg *Config, logs io.Writer) (*daemon, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDaemon(ctx, cfg, zerolog.New(logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done; d.close() }) }
	t.Cleanup(stop)
	return d, stop
}

// personalHit is where a personal value was found.
type personalHit struct {
	place  string // stream, or "log", "metrics", a console page
	detail string // subject and sequence, or the line
	value  string
}

// findInStream searches every message of a stream (a KV bucket's and an
// object store's too), data and headers, for the walk's values.
func findInStream(t *testing.T, js jetstream.JetStream, info *jetstream.StreamInfo) []personalHit {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, info.Config.Name)
	if err != nil {
		t.Fatal(err)
	}
	var hits []personalHit
	for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		if err != nil {
			t.Fatalf("%s #%d: %v", info.Config.Name, seq, err)
		}
		text := string(m.Data)
		for k, vs := range m.Header {
			text += "\n" + k + ": " + strings.Join(vs, ",")
		}
		for _, line := range findIn(info.Config.Name, text) {
			line.detail = fmt.Sprintf("%s #%d", m.Subject, seq)
			hits = append(hits, line)
		}
	}
	return hits
}

// findIn returns the lines of text, found in place, that hold a value of
// the walk's.
func findIn(place, text string) []personalHit {
	var hits []personalHit
	for _, line := range strings.Split(text, "\n") {
		for _, n := range walkValues() {
			if strings.Contains(line, n) {
				hits = append(hits, personalHit{place, line, n})
			}
		}
	}
	return hits
}

// consolePage returns a page of the admin listener, which must answer 200.
func consolePage(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, want 200", url, resp.Status)
	}
	return string(b)
}

// keepsPersonalData reports whether a stream keeps the payload, or what
// the tenant or the upstream wrote, for a retention of its own, longer
// than the walk (docs/security.md lists them): the submissions stream and
// the events ISEED_RETENTION (30 days), the dead letters ISEED_DLQ_RETENTION (90).
func keepsPersonalData(stream string) bool {
	return stream == "ISEED_SUBMISSIONS" || stream == "ISEED_EVENTS" || stream == "ISEED_DLQ"
}

// TestPersonalDataOutlivesNoRetention is the data-protection officer's
// walk: submissions of one person go through every path (completed with a
// document, with an identity document from the tenant's files bucket,
// rejected, corrected and replayed, failed upstream and left
// dead-lettered or replayed, held by a cap and released); once the
// documents' TTL has passed and a daemon started with the records' scrub
// due has scrubbed them, the person's tax code and name are in no stream,
// KV bucket or object store on the server (the files bucket, once its
// maximum age has passed, too) but those that keep them for a
// retention of their own (keepsPersonalData), in no log line at debug
// level, on /metrics, on the console's pages nor in ISEED_DATA_DIR; a
// document past its TTL cannot be fetched, neither by iseed document get,
// which says why, nor by the object its event names.
func TestPersonalDataOutlivesNoRetention(t *testing.T) {
	srv := cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "100ms")
	t.Setenv("ISEED_DOCUMENT_TTL", "2s")
	t.Setenv("ISEED_FILES_MAX_AGE", "10s") // long enough for the file to be read before it goes
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	logs := &pipetest.Buffer{}
	d, stop := startWalkDaemon(t, cfg, logs)
	ctx := context.Background()

	submit := func(tenant, path string) {
		t.Helper()
		if out, errOut, code := runCLI(t, "submit", "--tenant", tenant, path); code != 0 {
			t.Fatalf("submit %s: exit %d, %s %s", path, code, out, errOut)
		}
	}
	waitRecord := func(tenant, id string, ok func(*record.Record) bool) {
		t.Helper()
		waitUntil(t, 60*time.Second, tenant+"/"+id, func() bool {
			r, _, err := record.NewStore(d.res.Records).Get(ctx, tenant, id)
			return err == nil && ok(r)
		})
	}
	closed := func(r *record.Record) bool { return r.Closed() }

	// An identity document the tenant uploads to its files bucket.
	if _, errOut, code := runCLI(t, "tenant", "init", "acme"); code != 0 {
		t.Fatalf("tenant init: exit %d, %s", code, errOut)
	}
	files, err := srv.JS.ObjectStore(ctx, "iseed_files_acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.PutBytes(ctx, "walk/"+walkSurname+"-ci.pdf", []byte("%PDF-1.4 "+walkTaxCode+" "+walkName+" "+walkSurname)); err != nil {
		t.Fatal(err)
	}
	submit("acme", walkEvent(t, "walk-file", func(f map[string]any) {
		f["$5"] = walkSurname + "-ci.pdf|nats-os://iseed_files_acme/walk/" + walkSurname + "-ci.pdf"
	}))
	submit("acme", walkEvent(t, "walk-done", nil))
	submit("acme", walkEvent(t, "walk-invalid", walkInvalid)) // stays dead-lettered
	submit("acme", walkEvent(t, "walk-fix", walkInvalid))     // corrected below
	waitRecord("acme", "walk-invalid", closed)
	waitRecord("acme", "walk-fix", closed)
	sent := func(r *record.Record) bool { return r.RequestID != "" }
	waitRecord("acme", "walk-file", sent) // before the upstream refuses every POST
	waitRecord("acme", "walk-done", sent)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	submit("acme", walkEvent(t, "walk-failed", nil))   // stays dead-lettered
	submit("acme", walkEvent(t, "walk-replayed", nil)) // replayed below
	waitRecord("acme", "walk-failed", closed)
	waitRecord("acme", "walk-replayed", closed)
	d.sim.sim.SetFaults(sim.Faults{})
	letters := map[string]uint64{}
	for id, dl := range waitDeadLetters(t, 4) {
		letters[id] = dl.Seq
	}
	if _, errOut, code := runCLI(t, "dlq", "replay", fmt.Sprint(letters["walk-replayed"])); code != 0 {
		t.Fatalf("dlq replay: exit %d, %s", code, errOut)
	}
	corrected, err := os.ReadFile(walkEvent(t, "walk-fix", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLIInput(t, string(corrected), "dlq", "replay", "--payload", "-", fmt.Sprint(letters["walk-fix"])); code != 0 {
		t.Fatalf("dlq replay --payload: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "budget", "set", "--tenant", "globex", "--monthly-eur", "1"); code != 0 {
		t.Fatalf("budget set: exit %d, %s", code, errOut)
	}
	waitUntil(t, 20*time.Second, "the daemon to have globex's cap", func() bool { return d.pipeline.CapsApply("globex") })
	submit("globex", walkEvent(t, "walk-held", nil))
	waitRecord("globex", "walk-held", func(r *record.Record) bool { return r.State == record.StateHeld })
	if _, errOut, code := runCLI(t, "budget", "set", "--tenant", "globex"); code != 0 { // no caps: released
		t.Fatalf("budget set: exit %d, %s", code, errOut)
	}
	done := []struct{ tenant, id string }{{"acme", "walk-file"}, {"acme", "walk-done"}, {"acme", "walk-replayed"}, {"acme", "walk-fix"}, {"globex", "walk-held"}}
	for _, s := range done {
		waitRecord(s.tenant, s.id, func(r *record.Record) bool { return r.State == record.StateCompleted && r.Closed() })
	}

	var hits []personalHit
	admin := "http://" + d.admin.ln.Addr().String()
	hits = append(hits, findIn("/metrics", consolePage(t, admin+"/metrics"))...)
	for _, p := range []string{"/", "/open", "/dead-letters", "/spend",
		"/submission?tenant=acme&id=walk-done", "/submission?tenant=acme&id=walk-invalid", "/submission?tenant=globex&id=walk-held",
		fmt.Sprintf("/dead-letters/%d", letters["walk-invalid"]), fmt.Sprintf("/dead-letters/%d", letters["walk-failed"])} {
		hits = append(hits, findIn("console "+p, consolePage(t, admin+p))...)
	}
	stop()

	// Past the documents' TTL and the files' maximum age: every documents
	// bucket (acme's and globex's) and the files bucket is empty.
	waitUntil(t, 30*time.Second, "the documents' TTL and the files' maximum age to pass", func() bool {
		list, buckets := srv.JS.ListStreams(ctx), 0
		for info := range list.Info() {
			if strings.HasPrefix(info.Config.Name, "OBJ_iseed_documents_") || strings.HasPrefix(info.Config.Name, "OBJ_iseed_files_") {
				if info.State.Msgs > 0 {
					return false
				}
				buckets++
			}
		}
		return list.Err() == nil && buckets == 3
	})
	// A daemon started with the records' scrub due scrubs them at once.
	cfg.RecordScrub = Retention(time.Millisecond) // below what validation allows
	d, _ = startWalkDaemon(t, cfg, logs)
	for _, s := range append(done, struct{ tenant, id string }{"acme", "walk-invalid"}, struct{ tenant, id string }{"acme", "walk-failed"}) {
		waitRecord(s.tenant, s.id, func(r *record.Record) bool { return !r.Scrubbed.IsZero() })
	}
	out, errOut, code := runCLI(t, "document", "get", "--tenant", "acme", "-o", "-", "walk-done")
	if code != 1 || out != "" || !strings.Contains(errOut, "the document was deleted: documents are kept for ISEED_DOCUMENT_TTL") {
		t.Errorf("document get past the TTL: exit %d, %d bytes, stderr %q; want 1, nothing, and the TTL named", code, len(out), errOut)
	}
	// A tenant's client, which reads the object its last document event
	// names, finds none.
	last, err := srv.JS.Conn().Request("$JS.API.STREAM.MSG.GET.ISEED_EVENTS", []byte(`{"last_by_subj":"iseed.documents.acme.walk-done"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Message struct {
			Data []byte `json:"data"`
		} `json:"message"`
	}
	var ev struct {
		Data struct{ Bucket, Object string } `json:"data"`
	}
	if err := json.Unmarshal(last.Data, &got); err != nil || json.Unmarshal(got.Message.Data, &ev) != nil || ev.Data.Object == "" {
		t.Fatalf("the last document event: %s (%v)", last.Data, err)
	}
	if _, err := objread.Read(ctx, srv.JS.Conn(), ev.Data.Bucket, ev.Data.Object, io.Discard); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Errorf("the object the document event names, past the TTL: got %v, want %v", err, jetstream.ErrObjectNotFound)
	}
	if left := deadLetters(t); len(left) != 2 {
		t.Errorf("dead letters: got %d, want the 2 not replayed", len(left))
	}

	list := srv.JS.ListStreams(ctx)
	streams := 0
	for info := range list.Info() {
		streams++
		if !keepsPersonalData(info.Config.Name) {
			hits = append(hits, findInStream(t, srv.JS, info)...)
		}
	}
	if err := list.Err(); err != nil {
		t.Fatal(err)
	}
	if streams < 15 {
		t.Errorf("streams on the server: got %d, want every stream, bucket and object store iseed made", streams)
	}
	hits = append(hits, findIn("log", logs.String())...)
	if !strings.Contains(logs.String(), `"level":"debug"`) {
		t.Errorf("no debug line logged: the walk did not read the log at debug level")
	}
	err = filepath.WalkDir(os.Getenv("ISEED_DATA_DIR"), func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		hits = append(hits, findIn(p, string(b))...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		t.Errorf("%q found in %s: %s", h.value, h.place, h.detail)
	}
}
