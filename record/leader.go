package record

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// LeaderGet reads key of the KV bucket through the bucket stream's leader
// ($JS.API.STREAM.MSG.GET), where KeyValue.Get makes a direct get that any
// replica answers. A replica cut off from the others, or catching up after
// a partition, answers "no such key" for a key the majority holds, for as
// long as it lags (a minute in the chaos suite). Where absence decides
// something, as in reconciliation ("nobody claimed this request"), only the
// leader's answer counts. A deleted or purged key is absent.
func LeaderGet(ctx context.Context, js jetstream.JetStream, bucket, key string) ([]byte, bool, error) {
	v, _, ok, err := LeaderEntry(ctx, js, bucket, key)
	return v, ok, err
}

// LeaderEntry is LeaderGet with the entry's revision: its sequence in the
// bucket's stream, the revision KeyValue.Update compares with.
func LeaderEntry(ctx context.Context, js jetstream.JetStream, bucket, key string) (value []byte, rev uint64, found bool, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmp.Or(js.Options().DefaultTimeout, 5*time.Second))
		defer cancel()
	}
	prefix := js.Options().APIPrefix
	if prefix == "" {
		prefix = jetstream.DefaultAPIPrefix
	}
	if !strings.HasSuffix(prefix, ".") {
		prefix += "."
	}
	req, err := json.Marshal(map[string]string{"last_by_subj": "$KV." + bucket + "." + key})
	if err != nil {
		return nil, 0, false, err
	}
	msg, err := js.Conn().RequestWithContext(ctx, prefix+"STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return nil, 0, false, fmt.Errorf("read %s from the leader of %s: %w", key, bucket, err)
	}
	var resp struct {
		Message *struct {
			Sequence uint64 `json:"seq"`
			Data     []byte `json:"data"`
			Headers  []byte `json:"hdrs"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return nil, 0, false, fmt.Errorf("read %s from the leader of %s: %w", key, bucket, err)
	}
	switch {
	case resp.Error != nil && resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return nil, 0, false, nil
	case resp.Error != nil:
		return nil, 0, false, fmt.Errorf("read %s from the leader of %s: %w", key, bucket, resp.Error)
	case resp.Message == nil:
		return nil, 0, false, fmt.Errorf("read %s from the leader of %s: %w", key, bucket, jetstream.ErrInvalidJetStreamResponse)
	}
	if len(resp.Message.Headers) > 0 {
		hdr, err := nats.DecodeHeadersMsg(resp.Message.Headers)
		if err != nil {
			return nil, 0, false, fmt.Errorf("read %s from the leader of %s: %w", key, bucket, err)
		}
		if op := hdr.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return nil, 0, false, nil
		}
	}
	return resp.Message.Data, resp.Message.Sequence, true, nil
}
