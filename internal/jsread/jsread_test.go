package jsread_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/jsread"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// streamOf makes stream S holding n messages on s.<i>, and returns it as
// seen through js.
func streamOf(t *testing.T, srv *natstest.Server, js jetstream.JetStream, n int) jetstream.Stream {
	t.Helper()
	ctx := context.Background()
	if _, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := srv.JS.Publish(ctx, fmt.Sprintf("s.%d", i), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := js.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// collect returns a Func that keeps the payloads read in *got.
func collect(got *[]string) jsread.Func {
	return func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
		*got = append(*got, string(m.Data()))
		return nil
	}
}

// TestReadRidesOutNoResponders: fetches answered "no responders" are
// tried again, up to Tries in a row; one more ends the read with an
// IncompleteError counting what is left.
func TestReadRidesOutNoResponders(t *testing.T) {
	for _, tt := range []struct {
		name       string
		fail       func(n int64) bool
		wantRead   int
		wantUnread uint64 // 0: no error
	}{
		{"none", func(int64) bool { return false }, 4, 0},
		{"the first fetch", func(n int64) bool { return n == 1 }, 4, 0},
		{"the second and third", func(n int64) bool { return n == 2 || n == 3 }, 4, 0},
		{"every fetch", func(int64) bool { return true }, 0, 4},
		{"every fetch after the first", func(n int64) bool { return n >= 2 }, 1, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := natstest.Run(t)
			st := natstest.NewNoResponders(streamOf(t, srv, srv.JS, 4), tt.fail)
			var got []string
			err := jsread.Read(context.Background(), st, jetstream.OrderedConsumerConfig{}, jsread.Options{Wait: time.Second}, collect(&got))
			if len(got) != tt.wantRead {
				t.Errorf("read %v, want %d messages", got, tt.wantRead)
			}
			var inc *jsread.IncompleteError
			switch {
			case tt.wantUnread == 0 && err != nil:
				t.Errorf("Read: got %v, want no error", err)
			case tt.wantUnread == 0:
			case !errors.As(err, &inc) || inc.Unread != tt.wantUnread || !errors.Is(err, nats.ErrNoResponders):
				t.Errorf("Read: got %v, want an IncompleteError with %d unread, no responders", err, tt.wantUnread)
			}
		})
	}
}

// TestReadTakesAStallForOne: a fetch lost while messages are pending is
// tried again, not taken for the end; Tries lost in a row end the read
// with ErrStalled.
func TestReadTakesAStallForOne(t *testing.T) {
	for _, tt := range []struct {
		name     string
		drop     func(pull int64) bool
		wantRead int
		wantErr  error
	}{
		{"the second pull lost", func(pull int64) bool { return pull == 2 }, 3, nil},
		{"every pull after the first lost", func(pull int64) bool { return pull >= 2 }, 1, jsread.ErrStalled},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := natstest.Run(t)
			proxy := natstest.NewDropProxy(t, srv.Addr().String())
			pulls := new(atomic.Int64)
			proxy.Drop = func(subject string) bool {
				return strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT.S.") && tt.drop(pulls.Add(1))
			}
			nc, js := natstest.Connect(t, proxy.URL)
			t.Cleanup(nc.Close)
			var got []string
			err := jsread.Read(context.Background(), streamOf(t, srv, js, 3), jetstream.OrderedConsumerConfig{},
				jsread.Options{Wait: 200 * time.Millisecond}, collect(&got))
			if len(got) != tt.wantRead || !errors.Is(err, tt.wantErr) {
				t.Errorf("Read: got %v and error %v, want %d messages and error %v", got, err, tt.wantRead, tt.wantErr)
			}
		})
	}
}

// TestReadStops: a Func's Stop ends the read without an error, its other
// errors end it with theirs; a context done stops it before the next
// fetch, with an IncompleteError.
func TestReadStops(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		name     string
		ret      error // what the Func returns at the second message
		cancel   bool  // whether it ends the context then
		wantErr  error
		wantRead int
	}{
		{"Stop", jsread.Stop, false, nil, 2},
		{"an error", boom, false, boom, 2},
		{"ctx done", nil, true, context.Canceled, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := natstest.Run(t)
			st := streamOf(t, srv, srv.JS, 4)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			read := 0
			err := jsread.Read(ctx, st, jetstream.OrderedConsumerConfig{}, jsread.Options{}, func(jetstream.Msg, *jetstream.MsgMetadata) error {
				if read++; read == 2 && tt.cancel {
					cancel()
				}
				if read == 2 {
					return tt.ret
				}
				return nil
			})
			if read != tt.wantRead || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Read: read %d, error %v; want %d, error %v", read, err, tt.wantRead, tt.wantErr)
			}
			var inc *jsread.IncompleteError
			if errors.Is(tt.wantErr, context.Canceled) && (!errors.As(err, &inc) || inc.Unread != 2) {
				t.Errorf("Read stopped by its context: got %v, want an IncompleteError with 2 unread", err)
			}
		})
	}
}

// TestReadToTheEndItKnew: messages stored once the read has begun are not
// read (a flood of them would keep it going), batches or not; nothing
// pending is read without a fetch; the consumer is deleted after (the
// ordered consumer's last one lived five minutes).
func TestReadToTheEndItKnew(t *testing.T) {
	for _, batch := range []int{1, 2, 10} {
		t.Run(fmt.Sprint("batch ", batch), func(t *testing.T) {
			srv := natstest.Run(t)
			st := streamOf(t, srv, srv.JS, 3)
			var got []string
			err := jsread.Read(context.Background(), st, jetstream.OrderedConsumerConfig{}, jsread.Options{Batch: batch},
				func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
					got = append(got, string(m.Data()))
					_, err := srv.JS.Publish(context.Background(), "s.new", []byte("new"))
					return err
				})
			if err != nil || strings.Join(got, " ") != "0 1 2" {
				t.Errorf("Read: got %v, %v; want [0 1 2]", got, err)
			}
			waitNoConsumers(t, st)
		})
	}
	srv := natstest.Run(t)
	st := natstest.NewNoResponders(streamOf(t, srv, srv.JS, 1), func(int64) bool { return true })
	err := jsread.Read(context.Background(), st, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"s.none"}}, jsread.Options{}, collect(new([]string)))
	if err != nil {
		t.Errorf("Read of a subject with no message: got %v, want none and no fetch", err)
	}
}

// TestReadOfAStreamDeletedMeanwhile: a stream deleted during a read ends
// it with an error: the ordered consumer's default tries to make its
// consumer anew for ever.
func TestReadOfAStreamDeletedMeanwhile(t *testing.T) {
	srv := natstest.Run(t)
	srv.KeepStreamsDir(t)
	st := streamOf(t, srv, srv.JS, 3)
	done := make(chan error, 1)
	go func() {
		done <- jsread.Read(context.Background(), st, jetstream.OrderedConsumerConfig{}, jsread.Options{}, func(jetstream.Msg, *jetstream.MsgMetadata) error {
			return srv.JS.DeleteStream(context.Background(), "S")
		})
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Read of a stream deleted meanwhile: got no error, want one")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Read of a stream deleted meanwhile has not returned in 30 s")
	}
}

// waitNoConsumers waits for st to have no consumer left.
func waitNoConsumers(t *testing.T, st jetstream.Stream) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := st.Info(context.Background())
		if err == nil && info.State.Consumers == 0 {
			return
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("got %d, want 0", info.State.Consumers)
			}
			t.Fatalf("the stream's consumers 10 s after the read: %v", err)
		}
	}
}

// TestReadBoundsAFetchsBytes: with MaxBytes a fetch brings no more bytes
// than it says, and the read still reads every message, large ones
// included, through as many fetches as the bytes need.
func TestReadBoundsAFetchsBytes(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	if _, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	const n, size = 6, 100 << 10
	for i := range n {
		if _, err := srv.JS.Publish(ctx, fmt.Sprintf("s.%d", i), make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := srv.JS.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int64
	read, inFetch := 0, map[int64]int{}
	counted := natstest.NewNoResponders(st, func(n int64) bool { fetches.Store(n); return false }) // counts, fails none
	err = jsread.Read(ctx, counted, jetstream.OrderedConsumerConfig{},
		jsread.Options{Batch: 256, MaxBytes: 2*size + 4096},
		func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
			read++
			inFetch[fetches.Load()]++
			return nil
		})
	if err != nil || read != n {
		t.Fatalf("Read: %d of %d messages, error %v", read, n, err)
	}
	for f, k := range inFetch {
		if k > 2 {
			t.Errorf("fetch %d brought %d messages of %d bytes, more than MaxBytes %d", f, k, size, 2*size+4096)
		}
	}
	if fetches.Load() > n {
		t.Errorf("%d fetches for %d messages", fetches.Load(), n)
	}
}
