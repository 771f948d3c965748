package objread_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iseed-dev/iseed/objread"
)

// accountsConf is deploy/nats/nats-server.conf cut down to what a
// tenant's document reads need: ACME imports the two direct-get subjects
// of its documents bucket and nothing else of JetStream. Its $JS.API.INFO
// goes to a subject with no responder, so that the server does not answer
// ACME's JetStream API itself. The same two subjects are imported a second
// time under another prefix, for APIPrefix.
const accountsConf = `
listen: "127.0.0.1:-1"
jetstream { store_dir: %q }
accounts {
  ISEED {
    jetstream: enabled
    users: [ { user: iseed, password: iseed } ]
    exports: [
      { service: "$JS.API.DIRECT.GET.OBJ_iseed_documents_acme", accounts: [ACME] }
      { service: "$JS.API.DIRECT.GET.OBJ_iseed_documents_acme.$O.iseed_documents_acme.M.>", accounts: [ACME] }
      { service: "iseed.none.acme", accounts: [ACME] }
    ]
  }
  ACME {
    users: [ { user: acme, password: acme } ]
    imports: [
      { service: { account: ISEED, subject: "$JS.API.DIRECT.GET.OBJ_iseed_documents_acme" } }
      { service: { account: ISEED, subject: "$JS.API.DIRECT.GET.OBJ_iseed_documents_acme.$O.iseed_documents_acme.M.>" } }
      { service: { account: ISEED, subject: "$JS.API.DIRECT.GET.OBJ_iseed_documents_acme" }, to: "iseed.js.DIRECT.GET.OBJ_iseed_documents_acme" }
      { service: { account: ISEED, subject: "$JS.API.DIRECT.GET.OBJ_iseed_documents_acme.$O.iseed_documents_acme.M.>" }, to: "iseed.js.DIRECT.GET.OBJ_iseed_documents_acme.$O.iseed_documents_acme.M.>" }
      { service: { account: ISEED, subject: "iseed.none.acme" }, to: "$JS.API.INFO" }
    ]
  }
}
`

// TestReadAsTenant is the reason for the package: a tenant that may not
// create a consumer on the documents bucket's stream reads its documents.
func TestReadAsTenant(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats-server.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, accountsConf, t.TempDir()), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _ := natsserver.RunServerWithConfig(conf)
	t.Cleanup(srv.Shutdown)
	iseed := connect(t, srv.ClientURL(), nats.UserInfo("iseed", "iseed"))
	acme := connect(t, srv.ClientURL(), nats.UserInfo("acme", "acme"))

	obs, stream := newBucket(t, iseed)
	data := content(7, 5*chunkSize+3)
	put(t, obs, secretName, data)
	put(t, obs, "other", content(8, 2*chunkSize))
	want, err := obs.GetInfo(t.Context(), secretName)
	if err != nil {
		t.Fatal(err)
	}

	for _, opts := range [][]objread.Option{nil, {objread.APIPrefix("iseed.js")}} {
		got, info, err := read(t, acme, secretName, opts...)
		if err != nil {
			t.Fatalf("Read as acme %v: %v", opts, err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("bytes read as acme: got %x, want %x", got, data)
		}
		if info.NUID != want.NUID || info.Digest != want.Digest || info.Size != want.Size {
			t.Errorf("info read as acme: got %+v, want %+v", info, want)
		}
	}
	if _, _, err := read(t, acme, "absent"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Errorf("absent object as acme: got %v, want %v", err, jetstream.ErrObjectNotFound)
	}
	if n := consumers(t, stream); n != 0 {
		t.Errorf("consumers on the stream after acme's reads: got %d, want 0", n)
	}

	// What acme cannot do: open the bucket with nats.go, or create a
	// consumer on its stream.
	js, err := jetstream.New(acme)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.ObjectStore(t.Context(), bucket); err == nil {
		t.Errorf("nats.go ObjectStore as acme: got no error, want one")
	}
	if err := createConsumer(t, acme); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("consumer create as acme: got %v, want %v", err, nats.ErrNoResponders)
	}
	if n := consumers(t, stream); n != 0 {
		t.Errorf("consumers on the stream after acme's attempts: got %d, want 0", n)
	}

	// The control: the very request creates a consumer in ISEED's account.
	if err := createConsumer(t, iseed); err != nil {
		t.Fatalf("consumer create as iseed: %v", err)
	}
	if n := consumers(t, stream); n != 1 {
		t.Errorf("consumers on the stream after iseed's create: got %d, want 1", n)
	}
}

// createConsumer asks for a push consumer on the documents bucket's stream.
func createConsumer(t *testing.T, nc *nats.Conn) error {
	t.Helper()
	req := `{"stream_name":"OBJ_iseed_documents_acme","config":{"name":"x","deliver_subject":"somewhere","ack_policy":"none"}}`
	m, err := nc.RequestWithContext(t.Context(), "$JS.API.CONSUMER.CREATE.OBJ_iseed_documents_acme.x", []byte(req))
	if err != nil {
		return err
	}
	var resp struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &resp); err != nil {
		return fmt.Errorf("answer %q: %w", m.Data, err)
	}
	if resp.Error != nil {
		return errors.New(resp.Error.Description)
	}
	if !strings.Contains(string(m.Data), `"name":"x"`) {
		return fmt.Errorf("answer %q: no consumer x", m.Data)
	}
	return nil
}

func consumers(t *testing.T, stream jetstream.Stream) int {
	t.Helper()
	si, err := stream.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return si.State.Consumers
}
