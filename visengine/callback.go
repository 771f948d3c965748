package visengine

import "io"

// ReadCallback reads the request the API posts to a callback URL with
// method "JSON" and field "data": {"data": <Richiesta>}. Of the request it
// keeps only _id, stato_richiesta and callback_data, each of at most
// 4 KiB; the rest, the input it may echo (scans of documents, megabytes of
// base64) included, is read while it streams and skipped whatever its
// size. So a body makes a receiver hold at most CallbackMemory bytes, and a
// receiver bounds a body by the time it takes, not by its size. Up to
// 1 KiB before the object (white space, a byte order mark) is skipped.
func ReadCallback(r io.Reader) (*Richiesta, error) {
	a := &richiestaAnswer{b: budget{perValue: maxCallbackValue, left: 3 * maxCallbackValue}, only: callbackMember}
	s := newScanner(r, callbackBuffer)
	if err := s.skipPreamble(1 << 10); err != nil {
		return nil, err
	}
	err := s.object(func(key string) error {
		if key == "data" {
			return a.data(s)
		}
		return s.skip()
	})
	if err != nil {
		return nil, err
	}
	if err := a.complete(); err != nil {
		return nil, err
	}
	return &a.r, nil
}

// maxCallbackValue bounds one value ReadCallback keeps: callback_data as
// sent (a URL and a short secret) fits many times over.
const maxCallbackValue = 4 << 10

// callbackBuffer is ReadCallback's read buffer.
const callbackBuffer = 4 << 10

// CallbackMemory is the most ReadCallback holds for one body: its buffer
// and the three values it keeps.
const CallbackMemory = callbackBuffer + 3*maxCallbackValue

// callbackMember reports whether a request's member is one ReadCallback
// keeps: what tells a callback from another, the request, its state and
// the callback_data it echoes.
func callbackMember(key string) bool {
	return key == "_id" || key == "stato_richiesta" || key == "callback_data"
}
