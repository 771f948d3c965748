//go:build ignore

// atomicbatch measures what a stored write costs when each is its own
// publish awaiting its acknowledgement, as every write of iseed's pipeline
// is, against the same writes sent as JetStream atomic batches (all the
// writes waiting at one moment, one acknowledgement per batch): n
// KV-create-like publishes (a subject each, Nats-Expected-Last-Subject-Sequence
// 0, 600 bytes) from 16 goroutines. Run against a nats-server of its own
// (docs/performance.md):
//
//	go run docs/perf/atomicbatch.go -url nats://127.0.0.1:34222 -mode single -n 20000
//	go run docs/perf/atomicbatch.go -url nats://127.0.0.1:34222 -mode batch -n 20000
//
// and read the server's CPU from /proc/<pid>/stat before and after.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

type write struct {
	subject string
	done    chan error
}

func main() {
	url := flag.String("url", nats.DefaultURL, "the nats-server")
	mode := flag.String("mode", "single", "single (a publish awaited each) or batch (atomic batches)")
	n := flag.Int("n", 20000, "writes")
	flag.Parse()
	nc, err := nats.Connect(*url)
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	name := "ATOMICBATCH_" + *mode
	_ = js.DeleteStream(ctx, name)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"atomicbatch." + *mode + ".>"},
		AllowAtomicPublish: true, MaxMsgsPerSubject: 1}); err != nil {
		log.Fatal(err)
	}
	defer js.DeleteStream(ctx, name)
	data := make([]byte, 600)
	msg := func(subject string) *nats.Msg {
		m := nats.NewMsg(subject)
		m.Data = data
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
		return m
	}
	writes := make(chan write, 1024)
	batches := 0
	if *mode == "batch" {
		go func() {
			for id := 1; ; id++ {
				b := []write{<-writes}
			more:
				for len(b) < 64 {
					select {
					case w := <-writes:
						b = append(b, w)
					default:
						break more
					}
				}
				batches++
				err := publishBatch(nc, fmt.Sprint(id), b, msg)
				for _, w := range b {
					w.done <- err
				}
			}
		}()
	}
	cpu0 := cpu()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			done := make(chan error, 1)
			for i := g; i < *n; i += 16 {
				subject := fmt.Sprintf("atomicbatch.%s.k%d", *mode, i)
				if *mode == "batch" {
					writes <- write{subject, done}
					err = <-done
				} else {
					_, err = js.PublishMsg(ctx, msg(subject))
				}
				if err != nil {
					log.Fatal(err)
				}
			}
		})
	}
	wg.Wait()
	took, used := time.Since(start), cpu()-cpu0
	fmt.Printf("%s: %d writes in %v, %.0f/s; client CPU %v, %.1f µs a write; %d batches\n",
		*mode, *n, took.Round(time.Millisecond), float64(*n)/took.Seconds(), used.Round(time.Millisecond),
		float64(used.Microseconds())/float64(*n), batches)
}

// publishBatch sends b as one atomic batch: every message but the last
// without a reply, the last with the commit header and a request for the
// batch's acknowledgement.
func publishBatch(nc *nats.Conn, id string, b []write, msg func(string) *nats.Msg) error {
	for i, w := range b {
		m := msg(w.subject)
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(b)-1 {
			if err := nc.PublishMsg(m); err != nil {
				return err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		resp, err := nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			return err
		}
		var ack jetstream.PubAck
		if err := jsonAck(resp.Data, &ack); err != nil {
			return err
		}
	}
	return nil
}

func jsonAck(data []byte, ack *jetstream.PubAck) error {
	var resp struct {
		jetstream.PubAck
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return err
	}
	if resp.Error != nil {
		return resp.Error
	}
	if resp.Stream == "" {
		return errors.New("no acknowledgement")
	}
	*ack = resp.PubAck
	return nil
}

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
