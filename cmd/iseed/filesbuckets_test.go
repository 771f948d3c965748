package main

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// TestDeployFilesBucketsFitTheStore follows docs/deploy.md for the files
// buckets of the two example tenants, on the file store of each shipped
// configuration (nats-server.conf's max_file_store, the Helm values'
// maxSize). A stream's max_bytes is reserved out of the store when it is
// set, and the server refuses a stream, or a limit, that does not fit in
// what is left: every bucket must get its limit, and iseed must still make
// its layout and a tenant's documents bucket.
func TestDeployFilesBucketsFitTheStore(t *testing.T) {
	doc, err := os.ReadFile("../../docs/deploy.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`nats stream edit OBJ_iseed_files_acme .*--max-bytes (\d+)GB`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/deploy.md: no `nats stream edit OBJ_iseed_files_acme … --max-bytes <n>GB`")
	}
	gb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	maxBytes := gb << 30 // the nats CLI's GB
	opts, _ := loadShippedConf(t)
	stores := map[string]int64{"nats-server.conf": opts.JetStreamMaxStore, "nats-values.yaml": helmMaxStore(t)}
	for name, store := range stores {
		t.Run(name, func(t *testing.T) {
			opts, pw := loadShippedConf(t)
			opts.Cluster, opts.Routes = server.ClusterOpts{}, nil
			opts.Port, opts.HTTPPort, opts.StoreDir = -1, 0, t.TempDir()
			opts.NoLog, opts.NoSigs = true, true
			opts.JetStreamMaxStore = store
			s := natsserver.RunServer(opts)
			t.Cleanup(s.Shutdown)
			js := connectAs(t, s.ClientURL(), "iseed", pw["iseed"], "").js
			ctx := context.Background()
			if _, err := layout.Ensure(ctx, js, layout.Layout{}); err != nil {
				t.Fatal(err)
			}
			for _, tenant := range []string{"acme", "globex"} {
				createFilesBucket(t, js, tenant)
				st, err := js.Stream(ctx, "OBJ_iseed_files_"+tenant)
				if err != nil {
					t.Fatal(err)
				}
				cfg := st.CachedInfo().Config
				cfg.MaxBytes = maxBytes
				if _, err := js.UpdateStream(ctx, cfg); err != nil {
					t.Errorf("files bucket of %s, --max-bytes %dGB on a %d GiB store: %v", tenant, gb, store>>30, err)
				}
			}
			if _, err := layout.Ensure(ctx, js, layout.Layout{}); err != nil {
				t.Errorf("iseed's layout after the files buckets: %v", err)
			}
			if _, err := layout.EnsureTenantDocuments(ctx, js, layout.Layout{}, "acme"); err != nil {
				t.Errorf("acme's documents bucket after the files buckets: %v", err)
			}
		})
	}
}

// helmMaxStore returns the file store size of deploy/k8s/nats-values.yaml.
func helmMaxStore(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("../../deploy/k8s/nats-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Config struct {
			JetStream struct {
				FileStore struct {
					MaxSize string `yaml:"maxSize"`
				} `yaml:"fileStore"`
			} `yaml:"jetstream"`
		}
	}
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	gi, err := strconv.ParseInt(strings.TrimSuffix(v.Config.JetStream.FileStore.MaxSize, "Gi"), 10, 64)
	if err != nil {
		t.Fatalf("nats-values.yaml: fileStore.maxSize %q: %v", v.Config.JetStream.FileStore.MaxSize, err)
	}
	return gi << 30
}

// filesStreamConfig reads the configuration of a tenant's files bucket.
func filesStreamConfig(t *testing.T, js jetstream.JetStream, tenant string) jetstream.StreamConfig {
	t.Helper()
	st, err := js.Stream(context.Background(), "OBJ_iseed_files_"+tenant)
	if err != nil {
		t.Fatalf("the files bucket of %s: %v", tenant, err)
	}
	return st.CachedInfo().Config
}

// makeFilesBucket makes tenant's files bucket by hand, with direct get on
// or off and maxAge (0: none).
func makeFilesBucket(t *testing.T, js jetstream.JetStream, tenant string, direct bool, maxAge time.Duration) {
	t.Helper()
	ctx := context.Background()
	if _, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "iseed_files_" + tenant, TTL: maxAge}); err != nil {
		t.Fatal(err)
	}
	cfg := filesStreamConfig(t, js, tenant)
	cfg.AllowDirect = direct
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestTenantInitMakesTheFilesBucket: `iseed tenant init` makes a new
// tenant's files bucket as docs/deploy.md asks: files kept no longer than
// ISEED_FILES_MAX_AGE, direct get off, the replicas of the layout's
// streams; the tenant's files go in and come out. Run again, it leaves the
// bucket as it is and reports nothing wrong.
func TestTenantInitMakesTheFilesBucket(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	if _, err := layout.Ensure(ctx, srv.JS, layout.Layout{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ISEED_FILES_MAX_AGE", "48h")
	out, errOut, code := runCLI(t, "tenant", "init", "acme")
	if code != 0 || !strings.Contains(out, "acme: made files bucket iseed_files_acme: files kept 48h0m0s, direct get off") {
		t.Fatalf("tenant init acme: exit %d, stdout %q, stderr %q; want the files bucket made", code, out, errOut)
	}
	cfg := filesStreamConfig(t, srv.JS, "acme")
	if cfg.MaxAge != 48*time.Hour || cfg.AllowDirect || cfg.Replicas != 1 {
		t.Errorf("acme's files bucket: got max age %s, direct get %v, replicas %d; want 48h0m0s, false, 1", cfg.MaxAge, cfg.AllowDirect, cfg.Replicas)
	}
	obs, err := srv.JS.ObjectStore(ctx, "iseed_files_acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, "7781/cf.pdf", []byte("%PDF-1.4\n%%EOF\n")); err != nil {
		t.Fatalf("put a file in the bucket tenant init made: %v", err)
	}
	if got, err := obs.GetBytes(ctx, "7781/cf.pdf"); err != nil || string(got) != "%PDF-1.4\n%%EOF\n" {
		t.Errorf("get the file back: got %q, %v", got, err)
	}
	out, errOut, code = runCLI(t, "tenant", "init", "acme")
	if code != 0 || !strings.Contains(out, "acme: files bucket iseed_files_acme exists, left as it is\n") || strings.Count(out, "iseed_files_acme") != 1 {
		t.Errorf("tenant init acme again: exit %d, stdout %q, stderr %q; want the bucket left as it is, nothing wrong", code, out, errOut)
	}
}

// TestTenantInitReportsWhatIsWrongWithAFilesBucket: a files bucket made
// before, by hand, is left as it is, and `iseed tenant init` says what is
// wrong with it: no maximum age keeps every identity document for ever,
// direct get lets the tenant forge messages.
func TestTenantInitReportsWhatIsWrongWithAFilesBucket(t *testing.T) {
	tests := []struct {
		name   string
		direct bool
		maxAge time.Duration
		want   []string // the problems said; none for a good bucket
	}{
		{"as the object store client makes it", true, 0, []string{
			"acme: files bucket iseed_files_acme: no maximum age: every file (identity documents, mandates) stays until the tenant deletes it; nats stream edit OBJ_iseed_files_acme --max-age 720h\n",
			"acme: files bucket iseed_files_acme: direct get on: the tenant could have a file delivered as a message to any subject (docs/security.md); nats stream edit OBJ_iseed_files_acme --no-allow-direct\n",
		}},
		{"without a maximum age", false, 0, []string{"no maximum age"}},
		{"with direct get", true, 720 * time.Hour, []string{"direct get on"}},
		{"kept longer than ISEED_FILES_MAX_AGE", false, 2160 * time.Hour, []string{
			"acme: files bucket iseed_files_acme: files kept 2160h, longer than ISEED_FILES_MAX_AGE (720h); nats stream edit OBJ_iseed_files_acme --max-age 720h\n",
		}},
		{"as docs/deploy.md makes it", false, 720 * time.Hour, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := cliEnv(t)
			if _, err := layout.Ensure(context.Background(), srv.JS, layout.Layout{}); err != nil {
				t.Fatal(err)
			}
			makeFilesBucket(t, srv.JS, "acme", tt.direct, tt.maxAge)
			out, errOut, code := runCLI(t, "tenant", "init", "acme")
			if code != 0 {
				t.Fatalf("tenant init acme: exit %d, stderr %q", code, errOut)
			}
			if got := strings.Count(out, "iseed_files_acme: "); got != len(tt.want) {
				t.Errorf("tenant init acme printed %d problems, want %d:\n%s", got, len(tt.want), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("tenant init acme printed\n%s\nwant %q", out, w)
				}
			}
			if cfg := filesStreamConfig(t, srv.JS, "acme"); cfg.MaxAge != tt.maxAge || cfg.AllowDirect != tt.direct {
				t.Errorf("acme's files bucket after tenant init: max age %s, direct get %v; want it left as it was", cfg.MaxAge, cfg.AllowDirect)
			}
		})
	}
}

// TestServeWarnsOfFilesBuckets: at start, `iseed serve` warns of each
// tenant's files bucket that keeps files for ever or allows direct gets,
// once per problem, naming the bucket and no file; a good bucket, and a
// tenant without one, get no warning, and the daemon starts anyway.
func TestServeWarnsOfFilesBuckets(t *testing.T) {
	srv := cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	makeFilesBucket(t, srv.JS, "acme", true, 0)
	makeFilesBucket(t, srv.JS, "globex", false, 720*time.Hour)
	ctx := context.Background()
	obs, err := srv.JS.ObjectStore(ctx, "iseed_files_acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, "7781/cf-RSSMRA80A01H501U.pdf", []byte("%PDF-1.4\n%%EOF\n")); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var logs pipetest.Buffer
	d, err := newDaemon(ctx, cfg, zerolog.New(&logs).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	d.close()
	var warned []string
	for line := range strings.Lines(logs.String()) {
		var l struct{ Bucket, Problem, Message string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "RSSMRA80A01H501U") {
			t.Errorf("a log line names a file: %s", line)
		}
		if l.Bucket != "" {
			warned = append(warned, l.Bucket+": "+strings.SplitN(l.Problem, ":", 2)[0])
		}
	}
	want := []string{"iseed_files_acme: no maximum age", "iseed_files_acme: direct get on"}
	if !slices.Equal(warned, want) {
		t.Errorf("serve warned of %q, want %q; logs:\n%s", warned, want, logs.String())
	}
}
