package main

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
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
