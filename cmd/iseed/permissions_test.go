package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/objread"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// shippedConf is the NATS configuration deploy/ ships.
const shippedConf = "../../deploy/nats/nats-server.conf"

// TestShippedNATSPermissions runs deploy/nats/nats-server.conf as shipped
// (on one node: no cluster, a temporary store, random ports; passwords from
// the environment), an `iseed serve` subprocess connected as user iseed on
// the built-in simulator, and the two example tenants with their own
// credentials. iseed works end to end under its grants, and so do the
// operator commands; each tenant reaches its own events and documents and
// writes its own files bucket; everything a hostile tenant tries against
// the other one or against iseed fails with the server's permissions
// violation, which each check waits for (a timeout proves nothing).
func TestShippedNATSPermissions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	url, pw := runShippedNATS(t)
	operator := connectAs(t, url, "iseed", pw["iseed"], "")
	// globex's files bucket is made by hand (docs/deploy.md's alternative).
	createFilesBucket(t, operator.js, "globex")
	d := startDaemon(t, "ISEED_NATS_URL="+url, "ISEED_NATS_USER=iseed", "ISEED_NATS_PASSWORD="+pw["iseed"],
		"ISEED_REPLICAS=1", "ISEED_HTTP_LISTEN=127.0.0.1:0", "ISEED_CALLBACK_LISTEN=127.0.0.1:0", "ISEED_SIM_STEP=100ms")
	// acme's event consumers and files bucket are made by an operator
	// when adding it (`iseed tenant init`, as user iseed), and
	// its client still uses the inbox prefix the grants once required;
	// globex's are made by iseed with its first event, and its client
	// uses the default inbox.
	initTenant(t, url, pw["iseed"], "acme")
	if cfg := filesStreamConfig(t, operator.js, "acme"); cfg.AllowDirect || cfg.MaxAge != 720*time.Hour {
		t.Errorf("acme's files bucket made by tenant init: direct get %v, max age %s; want false, 720h0m0s", cfg.AllowDirect, cfg.MaxAge)
	}
	acme := connectTenant(t, url, "acme", pw["acme"], "_INBOX_acme")
	acme.bindConsumers(t, 0)
	globex := connectTenant(t, url, "globex", pw["globex"], "")

	// acme: one submission with a file from its own files bucket, one
	// invalid; globex: one submission with inline files.
	if _, err := acme.files.PutBytes(context.Background(), "7781/cf.pdf", []byte("%PDF-1.4\n%%EOF\n")); err != nil {
		t.Fatalf("acme puts a file in its own files bucket: %v", err)
	}
	acme.submit(t, "perm-acme-1", "cf.pdf|nats-os://iseed_files_acme/7781/cf.pdf", "mario.rossi@example.it")
	acme.submit(t, "perm-acme-bad", "cf.pdf|data:application/pdf;base64,JVBERi0xLjQK", "not an e-mail")
	globex.submit(t, "perm-globex-1", "cf.pdf|data:application/pdf;base64,JVBERi0xLjQK", "anna.bianchi@example.it")
	globex.bindConsumers(t, 30*time.Second)

	acmeDoc := acme.completedWithDocument(t, "perm-acme-1")
	globexDoc := globex.completedWithDocument(t, "perm-globex-1")
	acme.waitEvent(t, "status", "perm-acme-bad", publisher.StatusType(publisher.StateRejected))
	if out := d.out.String(); strings.Contains(strings.ToLower(out), "permissions violation") {
		t.Errorf("iseed serve hit a permissions violation:\n%s", out)
	}
	t.Run("operator commands", func(t *testing.T) { operatorCommands(t, url, pw["iseed"], acmeDoc) })
	t.Run("acme against globex and iseed", func(t *testing.T) {
		for _, c := range hostileChecks(acme, globexDoc) {
			t.Run(c.name, func(t *testing.T) { acme.denied(t, c) })
		}
	})
	t.Run("globex against acme", func(t *testing.T) {
		for _, c := range hostileChecks(globex, acmeDoc) {
			t.Run(c.name, func(t *testing.T) { globex.denied(t, c) })
		}
	})
	t.Run("nothing landed on globex's subjects", func(t *testing.T) {
		if n := subjectCount(t, operator.js, "ISEED_SUBMISSIONS", "iseed.submissions.globex"); n != 1 {
			t.Errorf("messages on iseed.submissions.globex: got %d, want 1 (globex's own)", n)
		}
		if n := subjectCount(t, operator.js, "ISEED_EVENTS", "iseed.status.globex.>"); n == 0 {
			t.Errorf("globex has no status events")
		}
	})
	t.Run("a reply subject reaches nothing of iseed's", func(t *testing.T) { replySubjects(t, acme, operator.js, "globex") })
}

// runShippedNATS starts the shipped configuration on one node and returns
// its client URL and the users' passwords. Only what a single test node
// needs changes: no cluster block or routes, a temporary store, a random
// client port, no monitoring port; and whatever change does.
func runShippedNATS(t *testing.T, change ...func(*server.Options)) (string, map[string]string) {
	t.Helper()
	opts, pw := loadShippedConf(t)
	for _, f := range change {
		f(opts)
	}
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	opts.Port, opts.HTTPPort, opts.StoreDir = -1, 0, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	s := natsserver.RunServer(opts)
	t.Cleanup(s.Shutdown)
	return s.ClientURL(), pw
}

// shippedSecrets names the environment variable of each user's password in
// the shipped configuration.
var shippedSecrets = map[string]string{"sys": "NATS_SYS_PASSWORD", "iseed": "ISEED_NATS_PASSWORD",
	"acme": "TENANT_ACME_PASSWORD", "globex": "TENANT_GLOBEX_PASSWORD"}

// loadShippedConf loads the shipped configuration with random secrets in
// its environment, as the servers of a deployment do, and returns the
// passwords by user.
func loadShippedConf(t *testing.T) (*server.Options, map[string]string) {
	t.Helper()
	pw := map[string]string{}
	for user, env := range shippedSecrets {
		pw[user] = rand.Text()
		t.Setenv(env, pw[user])
	}
	route := rand.Text()
	t.Setenv("NATS_SERVER_NAME", "nats-1")
	t.Setenv("NATS_ROUTE_PASSWORD", route)
	for n := 1; n <= 3; n++ {
		t.Setenv(fmt.Sprintf("NATS_ROUTE_%d", n), fmt.Sprintf("nats-route://route:%s@nats-%d:6222", route, n))
	}
	opts, err := server.ProcessConfigFile(shippedConf)
	if err != nil {
		t.Fatalf("%s: %v", shippedConf, err)
	}
	return opts, pw
}

// conn is one user's connection; violations receives the permissions
// violations the server reports on it.
type conn struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	violations chan error
}

func connectAs(t *testing.T, url, user, password, inboxPrefix string) *conn {
	t.Helper()
	c := &conn{violations: make(chan error, 256)}
	opts := []nats.Option{nats.UserInfo(user, password), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case c.violations <- err:
			default:
			}
		}
	})}
	if inboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(inboxPrefix))
	}
	var err error
	if c.nc, err = nats.Connect(url, opts...); err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(c.nc.Close)
	if c.js, err = jetstream.New(c.nc); err != nil {
		t.Fatal(err)
	}
	return c
}

// createFilesBucket does what docs/deploy.md tells an operator to do by
// hand for a new tenant: its files bucket, with direct get off and a
// maximum age.
func createFilesBucket(t *testing.T, js jetstream.JetStream, tenant string) {
	t.Helper()
	ctx := context.Background()
	if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "iseed_files_" + tenant}); err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(ctx, "OBJ_iseed_files_"+tenant)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.AllowDirect, cfg.MaxAge = false, 720*time.Hour
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

func subjectCount(t *testing.T, js jetstream.JetStream, stream, filter string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(filter))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// operatorCommands runs operator commands in-process as user iseed.
func operatorCommands(t *testing.T, url, password string, doc publisher.DocumentReady) {
	t.Setenv("ISEED_NATS_URL", url)
	t.Setenv("ISEED_NATS_USER", "iseed")
	t.Setenv("ISEED_NATS_PASSWORD", password)
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	for _, args := range [][]string{
		{"status", "--tenant", "acme", "-o", "json", doc.SubmissionID},
		{"dlq", "list", "--tenant", "acme", "-o", "json"},
		{"spend", "--tenant", "acme", "-o", "json"},
		{"budget", "list", "-o", "json"},
	} {
		if _, errOut, code := runCLI(t, args...); code != 0 {
			t.Errorf("iseed %s: exit %d, %s", strings.Join(args, " "), code, errOut)
		}
	}
	out, errOut, code := runCLI(t, "document", "get", "--tenant", "acme", "-o", "-", doc.SubmissionID)
	if sum := sha256.Sum256([]byte(out)); code != 0 || hex.EncodeToString(sum[:]) != doc.SHA256 {
		t.Errorf("iseed document get: exit %d, sha256 %x, %s; want 0 and %s", code, sum, errOut, doc.SHA256)
	}
}

// tenant is an HR platform connected with its own credentials.
type tenant struct {
	*conn
	name      string
	status    jetstream.Consumer
	documents jetstream.Consumer
	files     jetstream.ObjectStore
	seen      map[string]json.RawMessage // events by kind/submission/type
}

// initTenant runs `iseed tenant init` as user iseed, as docs/deploy.md
// tells an operator adding a tenant, once the daemon has made its layout.
func initTenant(t *testing.T, url, password, name string) {
	t.Helper()
	t.Setenv("ISEED_NATS_URL", url)
	t.Setenv("ISEED_NATS_USER", "iseed")
	t.Setenv("ISEED_NATS_PASSWORD", password)
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, errOut, code := runCLI(t, "tenant", "init", name)
		if code == 0 {
			if want := name + "-status and " + name + "-documents"; !strings.Contains(out, want) {
				t.Errorf("iseed tenant init %s printed %q, want it to name %s", name, out, want)
			}
			return
		}
		if time.Now().After(deadline) { // iseed serve makes the layout
			t.Fatalf("iseed tenant init %s: exit %d, %s", name, code, errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// connectTenant connects as the tenant (with the inbox prefix, if any) and
// binds its files bucket.
func connectTenant(t *testing.T, url, name, password, inboxPrefix string) *tenant {
	t.Helper()
	tc := &tenant{conn: connectAs(t, url, name, password, inboxPrefix), name: name, seen: map[string]json.RawMessage{}}
	var err error
	if tc.files, err = tc.js.ObjectStore(context.Background(), "iseed_files_"+name); err != nil {
		t.Fatalf("%s binds its files bucket: %v", name, err)
	}
	return tc
}

// bindConsumers binds the tenant's two event consumers, which iseed makes
// (tenants may not), waiting for them up to wait.
func (tc *tenant) bindConsumers(t *testing.T, wait time.Duration) {
	t.Helper()
	bind := func(kind string) jetstream.Consumer {
		var c jetstream.Consumer
		var err error
		deadline := time.Now().Add(wait)
		for {
			if c, err = tc.js.Consumer(context.Background(), "ISEED_EVENTS", tc.name+"-"+kind); err == nil {
				return c
			}
			if !time.Now().Before(deadline) {
				t.Fatalf("%s binds its %s consumer: %v", tc.name, kind, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	tc.status, tc.documents = bind("status"), bind("documents")
}

// submit publishes a submission as `iseed submit` does, with the message
// id the pipeline requires.
func (tc *tenant) submit(t *testing.T, id, file, email string) {
	t.Helper()
	if _, err := tc.js.PublishMsg(context.Background(), tc.submission(t, id, file, email)); err != nil {
		t.Fatalf("%s publishes %s: %v", tc.name, id, err)
	}
}

// submission is the message submit publishes: the same arguments make the
// same message, a duplicate once published.
func (tc *tenant) submission(t *testing.T, id, file, email string) *nats.Msg {
	t.Helper()
	body, err := json.Marshal(map[string]any{"id": id, "service": "ISEE", "fields": map[string]string{
		"Nome": "Mario", "Cognome": "Rossi", "Email": email, "Telefono": "+39 333 1234567",
		"Codice Fiscale": "RSSMRA85T10A562S", "Copia documento d'identità": "ci.pdf|data:application/pdf;base64,JVBERi0xLjQK",
		"Copia codice fiscale": file}, "metadata": map[string]string{"employee_id": id}})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := consumer.DecodeSubmission(body)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("iseed.submissions." + tc.name)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, publisher.SubmissionMsgID(tc.name, sub.ID, sub.Fingerprint()))
	return m
}

// completedWithDocument waits for the submission's completed and
// document-ready events and reads the document from the tenant's own
// documents bucket with the tenant's credentials.
func (tc *tenant) completedWithDocument(t *testing.T, id string) publisher.DocumentReady {
	t.Helper()
	tc.waitEvent(t, "status", id, publisher.StatusType(publisher.StateCompleted))
	var doc publisher.DocumentReady
	if err := json.Unmarshal(tc.waitEvent(t, "documents", id, publisher.TypeDocumentReady), &doc); err != nil {
		t.Fatal(err)
	}
	if want := "iseed_documents_" + tc.name; doc.Bucket != want || doc.Encrypted {
		t.Fatalf("document of %s in bucket %q (encrypted %v), want %q, plain", id, doc.Bucket, doc.Encrypted, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b bytes.Buffer
	info, err := objread.Read(ctx, tc.nc, doc.Bucket, doc.Object, &b)
	if err != nil {
		t.Fatalf("%s reads its document with direct gets: %v", tc.name, err)
	}
	if sum := sha256.Sum256(b.Bytes()); hex.EncodeToString(sum[:]) != doc.SHA256 || info.Size != uint64(doc.Size) {
		t.Fatalf("%s reads its document: %d bytes (info %d), sha256 %x; want %d, %s", tc.name, b.Len(), info.Size, sum, doc.Size, doc.SHA256)
	}
	return doc
}

// waitEvent reads the tenant's consumer of kind (status or documents)
// until it has seen an event of type typ about submission id, and returns
// the event's data. Every event it reads must be about the tenant.
func (tc *tenant) waitEvent(t *testing.T, kind, id, typ string) json.RawMessage {
	t.Helper()
	c := map[string]jetstream.Consumer{"status": tc.status, "documents": tc.documents}[kind]
	key := kind + "/" + id + "/" + typ
	waitUntil(t, 30*time.Second, tc.name+": "+key, func() bool {
		batch, err := c.Fetch(16, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			return false
		}
		for m := range batch.Messages() {
			tc.record(t, kind, m)
		}
		return tc.seen[key] != nil
	})
	return tc.seen[key]
}

func (tc *tenant) record(t *testing.T, kind string, m jetstream.Msg) {
	t.Helper()
	var ev struct {
		Type    string          `json:"type"`
		Subject string          `json:"subject"`
		Data    json.RawMessage `json:"data"`
	}
	var data struct {
		Tenant string `json:"tenant"`
	}
	if err := json.Unmarshal(m.Data(), &ev); err != nil || json.Unmarshal(ev.Data, &data) != nil {
		t.Fatalf("%s read %q on %s: not an event (%v)", tc.name, m.Data(), m.Subject(), err)
	}
	if prefix := "iseed." + kind + "." + tc.name + "."; !strings.HasPrefix(m.Subject(), prefix) || data.Tenant != tc.name {
		t.Fatalf("%s read an event on %s about tenant %q", tc.name, m.Subject(), data.Tenant)
	}
	tc.seen[kind+"/"+ev.Subject+"/"+ev.Type] = ev.Data
	if err := m.Ack(); err != nil {
		t.Fatal(err)
	}
}

// TestShippedNATSTenantConnections: a tenant that opens connections without
// end runs into its own account's limit, never the server's, so another
// tenant and iseed still connect. The test server accepts a few more
// connections than the tenant's limit (64 when it has none), standing for
// the server's max_connections (64K by default), which a tenant could
// otherwise fill.
func TestShippedNATSTenantConnections(t *testing.T) {
	opts, pw := loadShippedConf(t)
	opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
	opts.Port, opts.HTTPPort, opts.StoreDir = -1, 0, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	opts.MaxConn = 64
	if limit := shippedLimit(t, "ACME", "max_connections"); limit > 0 {
		opts.MaxConn = limit + 8
	}
	s := natsserver.RunServer(opts)
	t.Cleanup(s.Shutdown)
	connect := func(user string) (*nats.Conn, error) {
		return nats.Connect(s.ClientURL(), nats.UserInfo(user, pw[user]), nats.NoReconnect())
	}
	opened := 0
	for ; opened <= opts.MaxConn; opened++ {
		nc, err := connect("acme")
		if err != nil {
			break
		}
		t.Cleanup(nc.Close)
	}
	for _, user := range []string{"globex", "iseed"} {
		nc, err := connect(user)
		if err != nil {
			t.Errorf("%s connects after acme opened %d connections: %v; want connected", user, opened, err)
			continue
		}
		nc.Close()
	}
}

// TestShippedNATSTenantSubscriptions: a tenant's connection may hold at
// most max_subscriptions subscriptions; without the limit, one tenant could
// fill the server's memory with them, and every tenant and iseed would
// stop with it. The server refuses the one past the limit with an
// asynchronous error, sent before the answer to the flush that follows;
// nats.go hands it to the error handler on a goroutine of its own, which
// may run after Flush returns, so the test waits for it. (It looked once,
// right after the flush, and when the handler had not run yet went on to
// 100,000 subscriptions, 15 s under -race, before looking again.)
func TestShippedNATSTenantSubscriptions(t *testing.T) {
	url, pw := runShippedNATS(t)
	limit := shippedLimit(t, "ACME", "max_subscriptions")
	if limit <= 0 {
		t.Fatal("the ACME account sets no max_subscriptions")
	}
	refused := make(chan error, 1)
	nc, err := nats.Connect(url, nats.UserInfo("acme", pw["acme"]), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case refused <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	for i := range limit + 1 {
		if _, err := nc.Subscribe(fmt.Sprintf("_INBOX.flood.%d", i), func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-refused:
		if !strings.Contains(strings.ToLower(err.Error()), "maximum subscriptions") {
			t.Fatalf("subscription %d: %v; want maximum subscriptions exceeded", limit+1, err)
		}
	case <-time.After(30 * time.Second): // the error came before the flush's answer: it is only not handled yet
		t.Fatalf("acme holds %d subscriptions on one connection; want at most %d", limit+1, limit)
	}
}

// shippedLimit returns a limit (max_connections, max_subscriptions) of an
// account of the shipped configuration, 0 when it sets none.
func shippedLimit(t *testing.T, account, key string) int {
	t.Helper()
	m, err := conf.ParseFile(shippedConf)
	if err != nil {
		t.Fatal(err)
	}
	accounts, _ := m["accounts"].(map[string]any)
	a, _ := accounts[account].(map[string]any)
	limits, _ := a["limits"].(map[string]any)
	n, _ := limits[key].(int64)
	return int(n)
}
