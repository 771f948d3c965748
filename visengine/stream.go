package visengine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
)

// errBodyAbandoned stops a body writer whose request is over.
var errBodyAbandoned = errors.New("visengine: request body no longer read")

// streamedBody is a request body written by a goroutine while the
// transport reads it. The call that starts it waits for it (wait).
type streamedBody struct {
	pr   *io.PipeReader
	size int64 // -1 when unknown
	done chan error
}

// streamCreate starts writing a POST /richiesta body whose json_visura
// comes from req.WriteJSONVisura.
func streamCreate(ctx context.Context, req CreateRequest) (*streamedBody, error) {
	write := req.WriteJSONVisura
	req.WriteJSONVisura, req.JSONVisura = nil, map[string]string{}
	rest, err := json.Marshal(req) // {"hash_visura":"…","json_visura":{},…}
	if err != nil {
		return nil, err
	}
	head, tail, ok := bytes.Cut(rest, []byte(`"json_visura":{}`))
	if !ok {
		return nil, errors.New("visengine: create body without json_visura")
	}
	head = append(head, `"json_visura":`...)
	size := int64(-1)
	if req.JSONVisuraLen > 0 { // 0: unknown (json_visura is never empty: "{}" at least)
		size = int64(len(head)+len(tail)) + req.JSONVisuraLen
	}
	pr, pw := io.Pipe()
	b := &streamedBody{pr: pr, size: size, done: make(chan error, 1)}
	go func() {
		err := writeAll(pw, head, func() error { return write(ctx, pw) }, tail)
		pw.CloseWithError(err) // nil: EOF
		b.done <- err
	}()
	return b, nil
}

func writeAll(w io.Writer, head []byte, middle func() error, tail []byte) error {
	if _, err := w.Write(head); err != nil {
		return err
	}
	if err := middle(); err != nil {
		return err
	}
	_, err := w.Write(tail)
	return err
}

func (b *streamedBody) Read(p []byte) (int, error) { return b.pr.Read(p) }

// Close implements io.Closer; the transport calls it when done with the body.
func (b *streamedBody) Close() error { return b.pr.CloseWithError(errBodyAbandoned) }

// wait stops the writer if it is still writing and returns its error; nil
// when it wrote everything, or was stopped because the request was over.
func (b *streamedBody) wait() error {
	b.pr.CloseWithError(errBodyAbandoned)
	err := <-b.done
	if errors.Is(err, errBodyAbandoned) || errors.Is(err, io.ErrClosedPipe) {
		return nil
	}
	return err
}
