package account

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/money"
)

// envelope is every answer: {"data": …} and, on errors, "success",
// "message" and "error".
type envelope struct {
	Data    json.RawMessage `json:"data"`
	Success *bool           `json:"success"`
	Message json.RawMessage `json:"message"`
	Error   json.RawMessage `json:"error"`
}

// message returns the envelope's message as text (a string, or any JSON
// compacted) and its numeric error code (0 when absent or not a number).
func (e *envelope) message() (string, int) {
	var msg string
	if len(e.Message) > 0 && json.Unmarshal(e.Message, &msg) != nil {
		var b bytes.Buffer
		if json.Compact(&b, e.Message) == nil {
			msg = b.String()
		}
	}
	var code flexString
	_ = json.Unmarshal(e.Error, &code)
	n, _ := strconv.Atoi(string(code))
	return msg, n
}

// walletWire is GET /wallet's data.
type walletWire struct {
	Credit    money.Cents `json:"credit"`
	CreatedAt flexTime    `json:"createdAt"`
	UpdatedAt flexTime    `json:"updatedAt"`
}

// transactionWire is one entry of GET /wallet/transactions.
type transactionWire struct {
	ID          flexString  `json:"id"`
	Amount      money.Cents `json:"amount"`
	CreatedAt   flexTime    `json:"createdAt"`
	Description flexString  `json:"description"`
}

// transactionList decodes a list that may also arrive as null or, as PHP
// sends arrays with gaps in their keys, as an object keyed "0", "1", ….
type transactionList []transactionWire

// UnmarshalJSON implements json.Unmarshaler.
func (l *transactionList) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return json.Unmarshal(data, (*[]transactionWire)(l))
	}
	var m map[string]transactionWire
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	keys := make([]int, 0, len(m))
	for k := range m {
		n, err := strconv.Atoi(k)
		if err != nil {
			return fmt.Errorf("transactions keyed %q", k)
		}
		keys = append(keys, n)
	}
	slices.Sort(keys)
	for _, k := range keys {
		*l = append(*l, m[strconv.Itoa(k)])
	}
	return nil
}

// flexString decodes a string that may also arrive as a number or null.
type flexString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *flexString) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case string(data) == "null":
		*s = ""
	case len(data) > 0 && data[0] == '"':
		var v string
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		*s = flexString(v)
	default:
		*s = flexString(data)
	}
	return nil
}

// flexTime decodes RFC 3339 ("2026-02-12T08:30:00+00:00"), the same
// without a zone or with a space ("2026-02-12 08:30:00", taken as UTC),
// unix seconds (number or string), and null or "" (zero).
type flexTime time.Time

// UnmarshalJSON implements json.Unmarshaler.
func (t *flexTime) UnmarshalJSON(data []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(data); err != nil {
		return err
	}
	v := strings.TrimSpace(string(s))
	if v == "" {
		*t = flexTime{}
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		*t = flexTime(time.Unix(n, 0).UTC())
		return nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", time.DateTime} {
		if p, err := time.Parse(layout, v); err == nil {
			*t = flexTime(p.UTC())
			return nil
		}
	}
	return fmt.Errorf("cannot read %q as a time", v)
}
