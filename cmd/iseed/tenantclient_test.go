package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/iseed-dev/iseed/objread"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTenantClientFromEventsDoc is a tenant's client written from
// docs/events.md alone (and what it links): every subject, header,
// consumer name, field and id below is the doc's, quoted where it is
// relied on. It runs as tenant acme under deploy/nats/nats-server.conf as
// shipped, against an `iseed serve` connected as user iseed on the
// built-in simulator, with acme's documents sealed to its own age
// recipient, and uses no package of iseed's but objread, which the doc
// names for reading documents. The operator's connection only
// tells the test when iseed has taken every submission.
func TestTenantClientFromEventsDoc(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	// "The example above, published by tenant acme, has the fingerprint
	// dd442197499f0d13… and the message id
	// acme.8302e2c239b3a40a96f4bb23369575f4."
	if got := docMsgID("acme", docExample); got != "acme.8302e2c239b3a40a96f4bb23369575f4" {
		t.Fatalf("the doc's example's message id, computed as the doc says: got %s, want acme.8302e2c239b3a40a96f4bb23369575f4", got)
	}

	url, pw := runShippedNATS(t)
	operator := connectAs(t, url, "iseed", pw["iseed"], "")
	// acme's documents are sealed to its own age recipient
	// (docs/deploy.md: "its own age recipients in
	// ISEED_DOCUMENT_TENANT_RECIPIENTS_DIR/<tenant>"); the identity is
	// acme's alone.
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	recipients := t.TempDir()
	if err := os.WriteFile(filepath.Join(recipients, "acme"), []byte(identity.Recipient().String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "ISEED_NATS_URL="+url, "ISEED_NATS_USER=iseed", "ISEED_NATS_PASSWORD="+pw["iseed"],
		"ISEED_REPLICAS=1", "ISEED_HTTP_LISTEN=127.0.0.1:0", "ISEED_CALLBACK_LISTEN=127.0.0.1:0", "ISEED_SIM_STEP=100ms",
		"ISEED_DOCUMENT_TENANT_RECIPIENTS_DIR="+recipients)
	c := newDocClient(t, url, pw["acme"])
	c.identity = identity
	// "until then the bind answers jetstream.ErrConsumerNotFound": an
	// answer, not a refusal's timeout, once iseed has made its streams
	// (before, jetstream.ErrStreamNotFound).
	waitUntil(t, 30*time.Second, "iseed makes ISEED_EVENTS", func() bool {
		_, err := operator.js.Stream(context.Background(), "ISEED_EVENTS")
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, err := c.js.Consumer(ctx, "ISEED_EVENTS", "acme-status"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("acme binds acme-status before its first event: %v; want jetstream.ErrConsumerNotFound", err)
	}
	cancel()

	// The doc's example, with an id of this test's, the identity
	// document's elided base64 ("JVBERi0…") whole and the copy of the tax
	// code inline (the files bucket is another story).
	valid := strings.NewReplacer("emp-7781-isee-2026", "tc-ok-1", "JVBERi0…", "JVBERi0xLjQK",
		`"nats-os://iseed_files_acme/7781/cf.pdf"`, `"cf.pdf|data:application/pdf;base64,JVBERi0xLjQK"`).Replace(docExample)
	invalid := strings.Replace(strings.Replace(valid, "tc-ok-1", "tc-bad-1", 1), "mario.rossi@example.it", "not an e-mail", 1)

	// "a plain NATS subscriber on iseed.status.<tenant>.> sees every
	// publish … and misses whatever is published while it is
	// disconnected": one from before the first publish sees them all.
	plain, err := c.nc.SubscribeSync("iseed.status.acme.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// "publishing again is safe"; "The submissions stream deduplicates by
	// message id": the same message twice is stored once.
	first := c.publish(t, valid, true)
	again := c.publish(t, valid, true)
	if !again.Duplicate || again.Sequence != first.Sequence {
		t.Errorf("the same submission published again with its Nats-Msg-Id: ack %+v after %+v; want a duplicate of the first", again, first)
	}
	// "A message without Nats-Msg-Id is accepted; it just has no
	// server-side deduplication (iseed still never sends a submission
	// twice)."
	if third := c.publish(t, valid, false); third.Duplicate {
		t.Errorf("the same submission without Nats-Msg-Id: ack %+v; want stored", third)
	}
	c.publish(t, invalid, true)
	escaped := c.publishByHand(t, "tc-esc-1")
	malformed := `{"id":"tc-mal-1","service":"ISEE"}`
	c.publish(t, malformed, false)

	// "Each tenant reads its events durably through two pull consumers on
	// ISEED_EVENTS that iseed makes: <tenant>-status … and
	// <tenant>-documents … before the tenant's first event"; "until then
	// the bind answers jetstream.ErrConsumerNotFound; retry".
	c.bind(t)
	c.checkConsumers(t)

	completed := c.waitStatus(t, "tc-ok-1", "completed")
	final := c.waitFinalDocument(t, "tc-ok-1")
	// "its iseed.document.ready (final: true) is stored first"; both are
	// in ISEED_EVENTS, so their stream sequences order them.
	if final.seq >= completed.seq {
		t.Errorf("final document-ready at stream sequence %d, completed at %d; want the document first", final.seq, completed.seq)
	}
	c.checkDocument(t, final, "tc-ok-1")
	for {
		m, err := plain.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("acme's plain subscription on iseed.status.acme.>: %v before tc-ok-1's completed event", err)
		}
		if m.Header.Get(jetstream.MsgIDHeader) == completed.ID {
			break
		}
	}
	var esito struct {
		Esito *struct {
			Codice *json.RawMessage `json:"codice"`
			Info   *json.RawMessage `json:"info"`
		} `json:"esito"`
	}
	if err := json.Unmarshal(completed.Data, &esito); err != nil || esito.Esito == nil || esito.Esito.Codice == nil {
		t.Errorf("completed event: data %s; want esito {codice, info}", completed.Data)
	}
	c.checkRejected(t, c.waitStatus(t, "tc-bad-1", "rejected"))
	// The message id written by hand held: the submission was checked
	// against its schema (rejected for its e-mail), not malformed.
	if ev := c.waitStatus(t, "tc-esc-1", "rejected"); !strings.Contains(string(ev.Data), `"code":"invalid_email"`) || strings.Contains(string(ev.Data), `"malformed"`) {
		t.Errorf("submission with the message id %s written by hand: %s; want rejected for its e-mail only", escaped, ev.Data)
	}

	// "When the subject names a valid tenant, the id can be read, and no
	// submission of that id exists, the producer also gets a rejected
	// event with reason: "malformed", generation: 0 … and one error
	// (code: "malformed" …)", id "<tenant>.<id>.malformed.<sha256 of the
	// payload, 16 hex digits>".
	sum := sha256.Sum256([]byte(malformed))
	mal := c.find(t, "acme's rejection of tc-mal-1", func(ev docEvent) bool { return ev.Subject == "tc-mal-1" })
	var md docStatus
	if err := json.Unmarshal(mal.Data, &md); err != nil {
		t.Fatal(err)
	}
	if want := "acme.tc-mal-1.malformed." + hex.EncodeToString(sum[:])[:16]; mal.ID != want || mal.Type != "iseed.submission.rejected" ||
		md.State != "rejected" || md.Generation == nil || *md.Generation != 0 || docStr(md.Reason) != "malformed" ||
		len(md.Errors) != 1 || docStr(md.Errors[0].Code) != "malformed" || md.Errors[0].Field != nil || md.Errors[0].Name != nil {
		t.Errorf("malformed message: event %s %s %s; want %s, rejected, generation 0, reason malformed, one malformed problem", mal.ID, mal.Type, mal.Data, want)
	}

	// "The same id with a different payload is a conflict: … the producer
	// gets an iseed.submission.conflict event", id "<tenant>.<id>.conflict.
	// <the conflicting payload's fingerprint, 16 hex digits>", with
	// "reason: "conflict", errors: [{code: "conflict", message}], the
	// conflicting message's metadata".
	other := strings.NewReplacer("hr@example.com", "payroll@example.com", `"employee_id": "7781"`, `"employee_id": "other"`).Replace(valid)
	c.publish(t, other, true)
	conflictID := "acme.tc-ok-1.conflict." + docFingerprint(other)[:16]
	conflict := c.find(t, "acme's conflict event of tc-ok-1", func(ev docEvent) bool { return ev.ID == conflictID })
	var cd docStatus
	if err := json.Unmarshal(conflict.Data, &cd); err != nil {
		t.Fatal(err)
	}
	if conflict.Type != "iseed.submission.conflict" || conflict.subject != "iseed.status.acme.tc-ok-1" || docStr(cd.Reason) != "conflict" ||
		len(cd.Errors) != 1 || docStr(cd.Errors[0].Code) != "conflict" || string(cd.Metadata) != `{"employee_id":"other"}` {
		t.Errorf("conflict event %s on %s: %s %s; want iseed.submission.conflict, reason conflict, one conflict problem, the other metadata", conflict.ID, conflict.subject, conflict.Type, conflict.Data)
	}

	// The duplicates: once iseed has taken every submission (the operator's
	// view), the tenant has one submission of tc-ok-1, one upstream
	// request, and each state once.
	waitUntil(t, 30*time.Second, "iseed takes every submission", func() bool {
		cons, err := operator.js.Consumer(context.Background(), "ISEED_SUBMISSIONS", "submitter")
		if err != nil {
			return false
		}
		info, err := cons.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	c.drain(t)
	c.checkOneSubmission(t, "tc-ok-1", []string{"submitted", "in_progress", "data_ready", "completed"})
}

// docExample is docs/events.md's submission event, as the doc prints it.
const docExample = `{"version": 1,
 "id": "emp-7781-isee-2026",
 "service": "ISEE",
 "fields": {"Nome": "Mario", "$1": "Rossi", "Email": "mario.rossi@example.it",
            "Telefono": "+39 333 1234567", "Codice Fiscale": "RSSMRA85T10A562S",
            "Copia documento d'identità": "carta.pdf|data:application/pdf;base64,JVBERi0…",
            "Copia codice fiscale": "nats-os://iseed_files_acme/7781/cf.pdf"},
 "options": ["urgenza"],
 "email_target": "hr@example.com",
 "metadata": {"employee_id": "7781"}}`

// docMsgID is "<tenant>.<first 32 hex digits of the SHA-256 of
// "<id>.<fingerprint>">" (docFingerprint).
func docMsgID(tenant, event string) string {
	var in struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(event), &in); err != nil {
		panic(err)
	}
	sum := sha256.Sum256([]byte(in.ID + "." + docFingerprint(event)))
	return tenant + "." + hex.EncodeToString(sum[:])[:32]
}

// docFingerprint is the payload's fingerprint: "the SHA-256, in lower-case
// hex, of one line: the JSON object {"service":…,"fields":…,"options":…,
// "email_target":…} in that key order, as Go's encoding/json writes it: no
// spaces, fields keys sorted, options sorted (null when absent, [] when
// empty), email_target "" when absent, … followed by a newline".
func docFingerprint(event string) string {
	var in struct {
		Service     string            `json:"service"`
		Fields      map[string]string `json:"fields"`
		Options     []string          `json:"options"`
		EmailTarget string            `json:"email_target"`
	}
	if err := json.Unmarshal([]byte(event), &in); err != nil {
		panic(err)
	}
	slices.Sort(in.Options)
	var line bytes.Buffer
	// Encode writes the newline; a map's keys come out sorted.
	_ = json.NewEncoder(&line).Encode(struct {
		Service     string            `json:"service"`
		Fields      map[string]string `json:"fields"`
		Options     []string          `json:"options"`
		EmailTarget string            `json:"email_target"`
	}{in.Service, in.Fields, in.Options, in.EmailTarget})
	sum := sha256.Sum256(line.Bytes())
	return hex.EncodeToString(sum[:])
}

// docEvent is a CloudEvent as the doc describes it, with the consumer's
// stream sequence and the message's headers.
type docEvent struct {
	SpecVersion string          `json:"specversion"`
	ID          string          `json:"id"`
	Source      string          `json:"source"`
	Type        string          `json:"type"`
	Subject     string          `json:"subject"`
	Time        string          `json:"time"`
	Data        json.RawMessage `json:"data"`
	seq         uint64
	subject     string
	header      nats.Header
}

// docStatus is a status event's data: "data always has submission_id,
// tenant, state, generation and, when known, service, service_hash and
// metadata. Once the upstream request exists, every event also carries
// request_id, stato_richiesta and price".
type docStatus struct {
	SubmissionID   string          `json:"submission_id"`
	Tenant         string          `json:"tenant"`
	State          string          `json:"state"`
	Generation     *int            `json:"generation"`
	Service        string          `json:"service"`
	ServiceHash    string          `json:"service_hash"`
	RequestID      *string         `json:"request_id"`
	StatoRichiesta *string         `json:"stato_richiesta"`
	Price          *float64        `json:"price"`
	Reason         *string         `json:"reason"`
	Errors         []docProblem    `json:"errors"`
	Metadata       json.RawMessage `json:"metadata"`
}

// docProblem is a rejected event's problem: "errors:
// [{field, name, code, message}]".
type docProblem struct {
	Field   *string `json:"field"`
	Name    *string `json:"name"`
	Code    *string `json:"code"`
	Message *string `json:"message"`
}

// docDocument is a document-ready event's data, by the doc's table.
type docDocument struct {
	SubmissionID string          `json:"submission_id"`
	Tenant       string          `json:"tenant"`
	RequestID    string          `json:"request_id"`
	Stato        string          `json:"stato"`
	Final        *bool           `json:"final"`
	Bucket       string          `json:"bucket"`
	Object       string          `json:"object"`
	Name         string          `json:"name"`
	Size         int64           `json:"size"`
	SHA256       string          `json:"sha256"`
	ContentType  string          `json:"content_type"`
	Encrypted    *bool           `json:"encrypted"`
	KeyID        *string         `json:"key_id"`
	Metadata     json.RawMessage `json:"metadata"`
}

// docClient is tenant acme's client.
type docClient struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	violations chan error
	status     jetstream.Consumer
	documents  jetstream.Consumer
	identity   *age.X25519Identity // opens acme's sealed documents
	events     map[string]docEvent // by CloudEvents id: "every consumer must de-duplicate by the CloudEvents id"
	order      []string            // ids as first read
}

func newDocClient(t *testing.T, url, password string) *docClient {
	t.Helper()
	c := &docClient{violations: make(chan error, 16), events: map[string]docEvent{}}
	// The doc's client: "nats.UserInfo("acme", password),
	// nats.ErrorHandler(…) // a refused call is reported here only".
	nc, err := nats.Connect(url, nats.UserInfo("acme", password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case c.violations <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		select {
		case err := <-c.violations:
			t.Errorf("acme's connection reported %v; want no refused call", err)
		default:
		}
	})
	c.nc = nc
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// publish publishes a submission on "iseed.submissions.acme", with the
// doc's Nats-Msg-Id when withID.
func (c *docClient) publish(t *testing.T, event string, withID bool) *jetstream.PubAck {
	t.Helper()
	m := nats.NewMsg("iseed.submissions.acme")
	m.Data = []byte(event)
	if withID {
		m.Header.Set(jetstream.MsgIDHeader, docMsgID("acme", event))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ack, err := c.js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatalf("acme publishes a submission: %v", err)
	}
	return ack
}

// bind binds "acme-status" and "acme-documents" by name: "Bind them by
// name: a tenant may not create or change a consumer".
func (c *docClient) bind(t *testing.T) {
	t.Helper()
	waitUntil(t, 30*time.Second, "iseed makes acme's event consumers", func() bool {
		var err error
		if c.status == nil {
			c.status, err = c.js.Consumer(context.Background(), "ISEED_EVENTS", "acme-status")
		}
		if err == nil && c.documents == nil {
			c.documents, err = c.js.Consumer(context.Background(), "ISEED_EVENTS", "acme-documents")
		}
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Fatalf("acme binds its event consumers: %v; want them, or jetstream.ErrConsumerNotFound until iseed makes them (ErrStreamNotFound before its first start)", err)
		}
		return c.status != nil && c.documents != nil
	})
}

// fetch reads what both consumers have, keeps each event once and acks.
func (c *docClient) fetch(t *testing.T) int {
	t.Helper()
	n := 0
	for kind, cons := range map[string]jetstream.Consumer{"status": c.status, "documents": c.documents} {
		batch, err := cons.Fetch(32, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatalf("acme fetches from acme-%s: %v", kind, err)
		}
		for m := range batch.Messages() {
			n++
			c.keep(t, kind, m)
			if err := m.Ack(); err != nil {
				t.Fatal(err)
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			t.Fatalf("acme fetches from acme-%s: %v", kind, err)
		}
	}
	return n
}

// keep records one event, skipping "any message on its subjects that is
// not one of these events (specversion 1.0, type iseed.…, data.tenant its
// own)": none should come here.
func (c *docClient) keep(t *testing.T, kind string, m jetstream.Msg) {
	t.Helper()
	var ev docEvent
	var data struct {
		Tenant string `json:"tenant"`
	}
	if json.Unmarshal(m.Data(), &ev) != nil || json.Unmarshal(ev.Data, &data) != nil ||
		ev.SpecVersion != "1.0" || !strings.HasPrefix(ev.Type, "iseed.") || data.Tenant != "acme" {
		t.Errorf("acme-%s delivered %q on %s: not an event of acme's", kind, m.Data(), m.Subject())
		return
	}
	meta, err := m.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	ev.seq, ev.subject, ev.header = meta.Sequence.Stream, m.Subject(), m.Headers()
	if _, ok := c.events[ev.ID]; !ok {
		c.order = append(c.order, ev.ID)
		c.events[ev.ID] = ev
	}
}

// drain reads until both consumers have nothing more.
func (c *docClient) drain(t *testing.T) {
	t.Helper()
	for c.fetch(t) > 0 {
	}
}

// find waits for an event of submission id that match accepts.
func (c *docClient) find(t *testing.T, what string, match func(docEvent) bool) docEvent {
	t.Helper()
	var found docEvent
	waitUntil(t, 30*time.Second, what, func() bool {
		for _, evID := range c.order {
			if ev := c.events[evID]; match(ev) {
				found = ev
				return true
			}
		}
		c.fetch(t)
		return false
	})
	return found
}

// waitStatus waits for the status event of state about id and checks what
// the doc says of every status event: its subject, headers and id.
func (c *docClient) waitStatus(t *testing.T, id, state string) docEvent {
	t.Helper()
	ev := c.find(t, "acme's "+state+" event of "+id, func(ev docEvent) bool {
		return ev.Subject == id && ev.Type == "iseed.submission."+state
	})
	var d docStatus
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	// "iseed.status.<tenant>.<submission_id>"; "headers Content-Type:
	// application/cloudevents+json, Ce-Type: <type> and Nats-Msg-Id: <id>";
	// "id is <tenant>.<submission_id>.<generation>.<state>".
	if ev.subject != "iseed.status.acme."+id {
		t.Errorf("%s event of %s on %s, want iseed.status.acme.%s", state, id, ev.subject, id)
	}
	c.checkHeaders(t, ev)
	if d.SubmissionID != id || d.Tenant != "acme" || d.State != state || d.Generation == nil || *d.Generation != 1 {
		t.Errorf("%s event of %s: data %s; want submission_id, tenant acme, state, generation 1", state, id, ev.Data)
	}
	if want := "acme." + id + ".1." + state; ev.ID != want {
		t.Errorf("%s event of %s: id %s, want %s", state, id, ev.ID, want)
	}
	if ev.Source != "urn:iseed" || !rfc3339UTC.MatchString(ev.Time) {
		t.Errorf("%s event of %s: source %q, time %q; want urn:iseed and RFC 3339 UTC to the millisecond", state, id, ev.Source, ev.Time)
	}
	return ev
}

// rfc3339UTC is "RFC 3339 in UTC, cut to the millisecond (the fraction is
// left out when it is zero)".
var rfc3339UTC = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$`)

func (c *docClient) checkHeaders(t *testing.T, ev docEvent) {
	t.Helper()
	if ev.header.Get("Content-Type") != "application/cloudevents+json" || ev.header.Get("Ce-Type") != ev.Type ||
		ev.header.Get(jetstream.MsgIDHeader) != ev.ID {
		t.Errorf("event %s: headers %v; want Content-Type application/cloudevents+json, Ce-Type %s, Nats-Msg-Id %s", ev.ID, ev.header, ev.Type, ev.ID)
	}
}

// waitFinalDocument waits for the final document-ready event of id: "A
// consumer of documents alone can wait for final: true".
func (c *docClient) waitFinalDocument(t *testing.T, id string) docEvent {
	t.Helper()
	return c.find(t, "acme's final document of "+id, func(ev docEvent) bool {
		var d docDocument
		return ev.Subject == id && ev.Type == "iseed.document.ready" && json.Unmarshal(ev.Data, &d) == nil && d.Final != nil && *d.Final
	})
}

// checkDocument checks the fields of a final document-ready event and
// reads its document "with direct gets (package objread)".
func (c *docClient) checkDocument(t *testing.T, ev docEvent, id string) {
	t.Helper()
	var d docDocument
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	c.checkHeaders(t, ev)
	// "on iseed.documents.<tenant>.<submission_id>, id
	// <tenant>.<submission_id>.document.<first 16 hex digits of sha256>,
	// with .final after it for the final document … and .final.anew".
	sha16 := d.SHA256[:min(16, len(d.SHA256))]
	if ev.subject != "iseed.documents.acme."+id || (ev.ID != "acme."+id+".document."+sha16+".final" && ev.ID != "acme."+id+".document."+sha16+".final.anew") {
		t.Errorf("final document of %s: id %s on %s; want acme.%s.document.%s.final[.anew] on iseed.documents.acme.%s", id, ev.ID, ev.subject, id, sha16, id)
	}
	if len(d.SHA256) != 64 || d.SubmissionID != id || d.Tenant != "acme" || d.RequestID == "" || d.Stato != "Visura evasa" ||
		d.Bucket != "iseed_documents_acme" || d.Name == "" || d.Size <= 0 || d.ContentType == "" || string(d.Metadata) != `{"employee_id":"7781"}` {
		t.Errorf("final document of %s: data %s; want the doc's fields, bucket iseed_documents_acme, stato Visura evasa", id, ev.Data)
	}
	// "encrypted: sealed with age at rest"; "key_id: when encrypted: the
	// ids of the age recipients it was sealed to, comma-separated; each
	// is the first 8 hex digits of the SHA-256 of an age1… public key".
	keySum := sha256.Sum256([]byte(c.identity.Recipient().String()))
	if wantKey := hex.EncodeToString(keySum[:])[:8]; d.Encrypted == nil || !*d.Encrypted || d.KeyID == nil || *d.KeyID != wantKey {
		t.Errorf("final document of %s: encrypted %v, key_id %v; want true and %s (acme's recipient)", id, d.Encrypted, d.KeyID, wantKey)
	}
	// "object: <tenant>/<submission_id>/<first 16 hex digits of
	// sha256>/<file name> …, or … <first 16 hex digits of
	// sha256>.final/<file name>".
	prefix, file, _ := strings.Cut(strings.TrimPrefix(d.Object, "acme/"+id+"/"), "/")
	if !strings.HasPrefix(d.Object, "acme/"+id+"/") || (prefix != sha16 && prefix != sha16+".final") || file == "" || strings.Contains(file, "/") {
		t.Errorf("final document of %s: object %q; want acme/%s/%s[.final]/<file name>", id, d.Object, id, sha16)
	}
	// ".final.anew for a final document stored under <sha16>.final/
	// beside its receipt".
	if (prefix == sha16+".final") != strings.HasSuffix(ev.ID, ".final.anew") {
		t.Errorf("final document of %s: object %q announced as %s; want .final.anew exactly for an object under %s.final/", id, d.Object, ev.ID, sha16)
	}
	// "objread.Read(ctx, nc, ev.Bucket, ev.Object, &buf)"; "then check
	// ev.SHA256 (of the plaintext)" and "check size and sha256".
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var buf bytes.Buffer
	info, err := objread.Read(ctx, c.nc, d.Bucket, d.Object, &buf)
	if err != nil {
		t.Fatalf("acme reads %s from %s with direct gets: %v", d.Object, d.Bucket, err)
	}
	if info.Size != uint64(buf.Len()) {
		t.Errorf("acme reads %s: %d bytes, info %d", d.Object, buf.Len(), info.Size)
	}
	// "open it with an age identity when encrypted: the object is an age
	// file"; sha256 and size are "of the plaintext".
	r, err := age.Decrypt(bytes.NewReader(buf.Bytes()), c.identity)
	if err != nil {
		t.Fatalf("acme opens %s with its identity: %v", d.Object, err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("acme opens %s with its identity: %v", d.Object, err)
	}
	if sum := sha256.Sum256(plain); hex.EncodeToString(sum[:]) != d.SHA256 || int64(len(plain)) != d.Size {
		t.Errorf("acme opens %s: %d bytes, sha256 %x; want %d, %s", d.Object, len(plain), sum, d.Size, d.SHA256)
	}
	// The same bytes without objread; "digest, SHA-256=<base64url>".
	raw, digest := c.readWithoutGo(t, d.Bucket, d.Object)
	sum := sha256.Sum256(raw)
	if !bytes.Equal(raw, buf.Bytes()) || digest != "SHA-256="+base64.URLEncoding.EncodeToString(sum[:]) {
		t.Errorf("acme reads %s without Go: %d bytes, digest %s; want objread's %d bytes, SHA-256=%s", d.Object, len(raw), digest, buf.Len(), base64.URLEncoding.EncodeToString(sum[:]))
	}
}

// checkRejected checks a rejected event of an invalid submission: "errors:
// [{field, name, code, message}]"; "rejected, held and failed events carry
// no price"; no request_id, "once the upstream request exists".
func (c *docClient) checkRejected(t *testing.T, ev docEvent) {
	t.Helper()
	var d docStatus
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Errors) == 0 || d.Price != nil || d.RequestID != nil || d.StatoRichiesta != nil || d.Service != "ISEE" || d.ServiceHash == "" {
		t.Errorf("rejected event: data %s; want problems, the service, no price nor request", ev.Data)
	}
	for _, p := range d.Errors {
		if p.Field == nil || p.Name == nil || p.Code == nil || *p.Code == "" || p.Message == nil || *p.Message == "" {
			t.Errorf("rejected event: problem %+v of %s; want field, name, code and message", p, ev.Data)
		}
	}
	// schema.md: "field (the $N key …), name (the published field name …)":
	// the catalog's Email field is $2, published as "Email *".
	if len(d.Errors) != 1 || docStr(d.Errors[0].Field) != "$2" || docStr(d.Errors[0].Name) != "Email *" || docStr(d.Errors[0].Code) != "invalid_email" {
		t.Errorf("rejected event: data %s; want one invalid_email problem of field $2, Email *", ev.Data)
	}
}

// stati are the upstream states of iseed's, as the doc's event table
// gives them.
var stati = map[string]string{"submitted": "In erogazione", "in_progress": "In erogazione",
	"data_ready": "Dati disponibili", "completed": "Visura evasa"}

// checkOneSubmission: "The same id with the same payload … is the same
// submission: it is never sent twice": every status event of id names one
// upstream request, and each state came once, in order.
func (c *docClient) checkOneSubmission(t *testing.T, id string, states []string) {
	t.Helper()
	var got []string
	requests := map[string]bool{}
	for _, evID := range c.order {
		ev := c.events[evID]
		// "Whoever follows a submission's state takes it from the other
		// types and skips conflict."
		if ev.Subject != id || !strings.HasPrefix(ev.Type, "iseed.submission.") || ev.Type == "iseed.submission.conflict" {
			continue
		}
		var d docStatus
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, d.State)
		// "stato_richiesta in such an event is the upstream state of
		// that event's state"; price "once the upstream request exists".
		if want := stati[d.State]; d.StatoRichiesta == nil || *d.StatoRichiesta != want || d.Price == nil || *d.Price <= 0 {
			t.Errorf("%s event of %s: data %s; want stato_richiesta %q and a price", d.State, id, ev.Data, want)
		}
		// metadata: "a JSON object echoed in every event about the submission".
		if string(d.Metadata) != `{"employee_id":"7781"}` {
			t.Errorf("%s event of %s: metadata %s; want the submission's", d.State, id, d.Metadata)
		}
		if d.RequestID != nil {
			requests[*d.RequestID] = true
		}
	}
	if !slices.Equal(got, states) || len(requests) != 1 {
		t.Errorf("status events of %s, published three times: states %v, upstream requests %v; want %v and one request", id, got, requests, states)
	}
}

// checkConsumers: "The event consumers are iseed's settings: explicit
// acks, 30 s ack wait, 1,000 events unacknowledged at most, every event
// the stream keeps", with the doc's filters, as the consumers' info,
// which the tenant may read, says.
func (c *docClient) checkConsumers(t *testing.T) {
	t.Helper()
	for kind, cons := range map[string]jetstream.Consumer{"status": c.status, "documents": c.documents} {
		cfg := cons.CachedInfo().Config
		if cfg.AckPolicy != jetstream.AckExplicitPolicy || cfg.AckWait != 30*time.Second || cfg.MaxAckPending != 1000 ||
			cfg.DeliverPolicy != jetstream.DeliverAllPolicy || cfg.FilterSubject+strings.Join(cfg.FilterSubjects, "") != "iseed."+kind+".acme.>" {
			t.Errorf("acme-%s: %+v; want explicit acks, 30s ack wait, 1000 pending, every event, filter iseed.%s.acme.>", kind, cfg, kind)
		}
	}
}

// readWithoutGo reads an object as "Reading a document without Go" says:
// "the object's info, $JS.API.DIRECT.GET.OBJ_<bucket>.$O.<bucket>.M.<name>
// with an empty body (<name> in base64url with padding …), then each chunk
// in turn, $JS.API.DIRECT.GET.OBJ_<bucket> with the body
// {"seq":N,"next_by_subj":"$O.<bucket>.C.<nuid>"}, N starting at 1 and
// then the answer's Nats-Sequence header plus one. An answer with a
// Status: 404 header means no such message."
func (c *docClient) readWithoutGo(t *testing.T, bucket, object string) ([]byte, string) {
	t.Helper()
	get := func(subject string, body []byte) *nats.Msg {
		m, err := c.nc.Request(subject, body, 5*time.Second)
		if err != nil {
			t.Fatalf("acme's direct get on %s: %v", subject, err)
		}
		if m.Header.Get("Status") != "" {
			t.Fatalf("acme's direct get on %s: status %s %s", subject, m.Header.Get("Status"), m.Header.Get("Description"))
		}
		return m
	}
	api := "$JS.API.DIRECT.GET.OBJ_" + bucket
	meta := get(api+".$O."+bucket+".M."+base64.URLEncoding.EncodeToString([]byte(object)), nil)
	var info struct {
		NUID   string `json:"nuid"`
		Chunks int    `json:"chunks"`
		Size   int    `json:"size"`
		Digest string `json:"digest"`
	}
	if err := json.Unmarshal(meta.Data, &info); err != nil {
		t.Fatalf("the object's info %q: %v", meta.Data, err)
	}
	var out []byte
	next := uint64(1)
	for range info.Chunks {
		body, _ := json.Marshal(map[string]any{"seq": next, "next_by_subj": "$O." + bucket + ".C." + info.NUID})
		m := get(api, body)
		seq, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			t.Fatalf("a chunk's Nats-Sequence: %v", err)
		}
		out, next = append(out, m.Data...), seq+1
	}
	if len(out) != info.Size {
		t.Errorf("read without Go: %d bytes, the info says %d", len(out), info.Size)
	}
	return out, info.Digest
}

// publishByHand publishes an invalid submission (its e-mail) whose name
// has characters a JSON writer may escape or not, with a message id whose
// fingerprint line is written by hand as the doc spells it out, not with
// Go's encoding/json: "no spaces, fields keys sorted (by their UTF-8
// bytes), options sorted (null when absent …), email_target "" when
// absent, non-ASCII text as UTF-8 except U+2028 and U+2029, written
// \u2028 and \u2029; <, > and & as \u003c, \u003e, \u0026; control
// characters as \b, \f, \n, \r, \t or else \u00XX (lower-case hex)
// … followed by a newline"; the message id "<tenant>.<first 32 hex digits
// of the SHA-256 of "<id>.<fingerprint>">", the fingerprint 64 lower-case
// hex digits.
func (c *docClient) publishByHand(t *testing.T, id string) string {
	t.Helper()
	fields := map[string]string{"Nome": "Ma\u2028rio\u2029 <&> \b\f\t\x01\x7f é", "Cognome": "Rossi", "Email": "not an e-mail",
		"Telefono": "+39 333 1234567", "Codice Fiscale": "RSSMRA85T10A562S",
		"Copia documento d'identità": "ci.pdf|data:application/pdf;base64,JVBERi0xLjQK",
		"Copia codice fiscale":       "cf.pdf|data:application/pdf;base64,JVBERi0xLjQK"}
	event, err := json.Marshal(map[string]any{"id": id, "service": "ISEE", "fields": fields})
	if err != nil {
		t.Fatal(err)
	}
	keys := slices.Sorted(maps.Keys(fields))
	var line strings.Builder
	line.WriteString(`{"service":` + handQuote("ISEE") + `,"fields":{`)
	for i, k := range keys {
		if i > 0 {
			line.WriteString(",")
		}
		line.WriteString(handQuote(k) + ":" + handQuote(fields[k]))
	}
	line.WriteString(`},"options":null,"email_target":""}` + "\n")
	sum := sha256.Sum256([]byte(line.String()))
	digest := sha256.Sum256([]byte(id + "." + hex.EncodeToString(sum[:])))
	msgID := "acme." + hex.EncodeToString(digest[:])[:32]
	m := nats.NewMsg("iseed.submissions.acme")
	m.Data = event
	m.Header.Set(jetstream.MsgIDHeader, msgID)
	if _, err := c.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatalf("acme publishes %s: %v", id, err)
	}
	return msgID
}

// handQuote writes s as a JSON string by the doc's rules.
func handQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteString("\\" + string(r))
		case r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, "\\u%04x", r)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// docStr is what p points to, "" for nil.
func docStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
