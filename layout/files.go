package layout

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// FilesStream is the stream behind a tenant's files bucket.
func (l Layout) FilesStream(tenant string) string { return "OBJ_" + l.FilesBucket(tenant) }

// CreateFilesBucket makes tenant's files bucket unless it exists, and
// returns whether it made it and, when it did not, what is wrong with the
// existing one (FilesProblems), which it leaves as it is. The new bucket
// keeps each file FilesMaxAge at most (identity documents, which iseed
// never deletes), with the layout's replicas and storage and direct get
// off: a direct get answers with the raw stored message to any reply
// subject, which would let the tenant publish a file as a message on
// another tenant's subjects (docs/security.md). Its stream is the one the
// Object Store client makes but for that: the client makes every bucket
// with direct get on, and a bucket changed after it was made would keep
// it if the change failed. Its size limit is the operator's
// (docs/deploy.md).
func CreateFilesBucket(ctx context.Context, js jetstream.JetStream, l Layout, tenant string) (bool, []string, error) {
	l = l.WithDefaults()
	bucket := l.FilesBucket(tenant)
	st, err := js.Stream(ctx, l.FilesStream(tenant))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        l.FilesStream(tenant),
			Description: "iseed: files of tenant " + tenant,
			Subjects:    []string{"$O." + bucket + ".C.>", "$O." + bucket + ".M.>"},
			MaxAge:      l.FilesMaxAge,
			MaxBytes:    -1,
			Storage:     l.Storage,
			Replicas:    l.Replicas,
			Discard:     jetstream.DiscardNew,
			AllowRollup: true,
			AllowDirect: false,
		})
		if err == nil {
			return true, nil, nil
		}
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // made meanwhile
			st, err = js.Stream(ctx, l.FilesStream(tenant))
		}
	}
	if err != nil {
		return false, nil, fmt.Errorf("layout: files bucket %s: %w", bucket, err)
	}
	return false, l.FilesProblems(st.CachedInfo().Config), nil
}

// FilesProblem is one thing wrong with a tenant's files bucket.
type FilesProblem struct {
	Bucket  string // iseed_files_<tenant>
	Problem string // what is wrong, and the command that mends it
}

// FilesBucketsProblems reads the configuration of every tenant's files
// bucket there is, and returns what is wrong with them (FilesProblems).
func FilesBucketsProblems(ctx context.Context, js jetstream.JetStream, l Layout) ([]FilesProblem, error) {
	l = l.WithDefaults()
	prefix := l.FilesStream("")
	var out []FilesProblem
	list := js.ListStreams(ctx, jetstream.WithStreamListSubject("$O.*.C.>"))
	for info := range list.Info() {
		tenant, ok := strings.CutPrefix(info.Config.Name, prefix)
		if !ok || tenant == "" {
			continue
		}
		for _, p := range l.FilesProblems(info.Config) {
			out = append(out, FilesProblem{Bucket: l.FilesBucket(tenant), Problem: p})
		}
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("layout: list the files buckets: %w", err)
	}
	return out, nil
}

// FilesProblems returns what is wrong with cfg, a files bucket's stream
// configuration, each problem with the command that mends it: no maximum
// age (every identity document stays until the tenant deletes it), one
// longer than FilesMaxAge (kept longer than the deployment says), or
// direct get on (a layer of the tenants' isolation gone).
func (l Layout) FilesProblems(cfg jetstream.StreamConfig) []string {
	l = l.WithDefaults()
	var out []string
	switch {
	case cfg.MaxAge <= 0:
		out = append(out, fmt.Sprintf("no maximum age: every file (identity documents, mandates) stays until the tenant deletes it; "+
			"nats stream edit %s --max-age %s", cfg.Name, shortDuration(l.FilesMaxAge)))
	case cfg.MaxAge > l.FilesMaxAge:
		out = append(out, fmt.Sprintf("files kept %s, longer than ISEED_FILES_MAX_AGE (%s); nats stream edit %s --max-age %s",
			shortDuration(cfg.MaxAge), shortDuration(l.FilesMaxAge), cfg.Name, shortDuration(l.FilesMaxAge)))
	}
	if cfg.AllowDirect {
		out = append(out, fmt.Sprintf("direct get on: the tenant could have a file delivered as a message to any subject (docs/security.md); "+
			"nats stream edit %s --no-allow-direct", cfg.Name))
	}
	return out
}

// shortDuration is d as an operator writes it: 720h, not 720h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ObjectMetaSubject is the subject of an Object Store object's info in its
// bucket's stream: a deleted object leaves its deletion marker there,
// which names it, until that subject is purged.
func ObjectMetaSubject(bucket, name string) string {
	return "$O." + bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(name))
}
