package objread_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/iseed-dev/iseed/objread"
)

// fakeStream answers the direct gets of bucket "fake" as the server does,
// checking the requests, except for what answer changes. It stands in for
// the server where a real one cannot be made to answer wrongly.
type fakeStream struct {
	t      *testing.T
	info   jetstream.ObjectInfo
	chunks map[uint64][]byte // by stream sequence
	answer func(kind string, m *nats.Msg)
}

const fakeBucket = "fake"

func (f *fakeStream) subscribe(nc *nats.Conn) {
	metaSubj := "$O.fake.M." + base64.URLEncoding.EncodeToString([]byte(f.info.Name))
	for subj, handle := range map[string]nats.MsgHandler{
		"$JS.API.DIRECT.GET.OBJ_fake." + metaSubj: func(req *nats.Msg) {
			if len(req.Data) != 0 {
				f.t.Errorf("meta request body: got %q, want none", req.Data)
			}
			data, err := json.Marshal(f.info)
			if err != nil {
				f.t.Error(err)
			}
			f.respond(req, "meta", metaSubj, 1000, data)
		},
		"$JS.API.DIRECT.GET.OBJ_fake": func(req *nats.Msg) {
			var body struct {
				Seq     uint64 `json:"seq"`
				NextFor string `json:"next_by_subj"`
			}
			if err := json.Unmarshal(req.Data, &body); err != nil || body.Seq == 0 || body.NextFor != "$O.fake.C."+f.info.NUID {
				f.t.Errorf("chunk request body: got %s, want a seq and next_by_subj", req.Data)
			}
			for seq := body.Seq; seq < 1000; seq++ {
				if data, ok := f.chunks[seq]; ok {
					f.respond(req, "chunk", body.NextFor, seq, data)
					return
				}
			}
			m := nats.NewMsg(req.Reply)
			m.Header.Set("Status", "404")
			m.Header.Set("Description", "Message Not Found")
			_ = req.RespondMsg(m)
		},
	} {
		if _, err := nc.Subscribe(subj, handle); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeStream) respond(req *nats.Msg, kind, subject string, seq uint64, data []byte) {
	m := nats.NewMsg(req.Reply)
	m.Header.Set(jetstream.StreamHeader, "OBJ_fake")
	m.Header.Set(jetstream.SubjectHeader, subject)
	m.Header.Set(jetstream.SequenceHeader, strconv.FormatUint(seq, 10))
	m.Header.Set(jetstream.TimeStampHeaer, time.Now().UTC().Format(time.RFC3339Nano))
	m.Data = data
	f.answer(kind, m)
	_ = req.RespondMsg(m)
}

func TestReadChecksAnswers(t *testing.T) {
	opts := natsserver.DefaultTestOptions
	opts.Port = -1
	srv := natsserver.RunServer(&opts)
	t.Cleanup(srv.Shutdown)

	chunks := map[uint64][]byte{3: []byte("0123456789"), 7: []byte("abcdefghij"), 8: []byte("xyz")}
	sum := sha256.Sum256([]byte("0123456789abcdefghijxyz"))
	info := jetstream.ObjectInfo{
		ObjectMeta: jetstream.ObjectMeta{Name: secretName},
		Bucket:     fakeBucket, NUID: "N1", Size: 23, Chunks: 3,
		Digest: "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:]),
	}
	for _, tc := range []struct {
		name   string
		answer func(kind string, m *nats.Msg)
		want   error  // nil: a successful read, unless msg is set
		msg    string // what the error says, if not classified
	}{
		{"as the server", func(string, *nats.Msg) {}, nil, ""},
		{"meta on another subject", func(kind string, m *nats.Msg) {
			if kind == "meta" {
				m.Header.Set(jetstream.SubjectHeader, "$O.fake.M.b3RoZXI=")
			}
		}, objread.ErrBadAnswer, ""},
		{"meta without a time stamp", func(kind string, m *nats.Msg) {
			if kind == "meta" {
				m.Header.Del(jetstream.TimeStampHeaer)
			}
		}, objread.ErrBadAnswer, ""},
		{"chunk on another subject", func(kind string, m *nats.Msg) {
			if kind == "chunk" {
				m.Header.Set(jetstream.SubjectHeader, "$O.fake.C.N2")
			}
		}, objread.ErrBadAnswer, ""},
		{"chunk with an earlier sequence", func(kind string, m *nats.Msg) {
			if kind == "chunk" {
				m.Header.Set(jetstream.SequenceHeader, "0")
			}
		}, objread.ErrBadAnswer, ""},
		{"chunk without a sequence", func(kind string, m *nats.Msg) {
			if kind == "chunk" {
				m.Header.Del(jetstream.SequenceHeader)
			}
		}, objread.ErrBadAnswer, ""},
		{"another status", func(kind string, m *nats.Msg) {
			if kind == "chunk" {
				m.Header = nats.Header{"Status": {"408"}, "Description": {"Bad Request"}}
				m.Data = nil
			}
		}, nil, "408 Bad Request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc := connect(t, srv.ClientURL())
			f := &fakeStream{t: t, info: info, chunks: chunks, answer: tc.answer}
			f.subscribe(nc)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var buf bytes.Buffer
			got, err := objread.Read(ctx, connect(t, srv.ClientURL()), fakeBucket, secretName, &buf)
			switch {
			case tc.msg != "":
				if err == nil || !strings.Contains(err.Error(), tc.msg) || errors.Is(err, objread.ErrMissingChunk) {
					t.Fatalf("got %v, want an error saying %q", err, tc.msg)
				}
			case !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil):
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				checkNoName(t, err, secretName)
				return
			}
			if buf.String() != "0123456789abcdefghijxyz" || got.NUID != "N1" {
				t.Errorf("got %q, NUID %s; want the three chunks of N1", buf.String(), got.NUID)
			}
		})
	}
}
