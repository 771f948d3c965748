package sim

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// The account API (oauth.openapi.com) answers {"data": …} without the rest
// of Visengine's envelope, and writes times as RFC 3339 with a numeric zone.
const (
	accountTime             = "2006-01-02T15:04:05-07:00"
	maxTransactions         = 100 // GET /wallet/transactions' limit: its default and its maximum
	codeAccountUnauthorized = 140 // 401 "Unauthorized": the published code for wrong Basic credentials
)

// walletWire is GET /wallet's data (Wallet), in the example's key order.
type walletWire struct {
	Credit    any    `json:"credit"` // euroNumber; a string under the PHP scalars fault
	CreatedAt string `json:"createdAt"`
	UpdatedAt string `json:"updatedAt"`
}

// transactionWire is one entry of GET /wallet/transactions (WalletTransaction).
type transactionWire struct {
	ID          string `json:"id"`
	Amount      any    `json:"amount"` // euroNumber; a string under the PHP scalars fault
	CreatedAt   string `json:"createdAt"`
	Description string `json:"description"`
}

// euroNumber is an amount in cents written as a JSON number of euros, as
// the API writes them: -16, -15.5, 982.3.
type euroNumber int64

// MarshalJSON implements json.Marshaler.
func (c euroNumber) MarshalJSON() ([]byte, error) { return []byte(formatEuro(int64(c))), nil }

// euro writes cents as the shape says: a number, or "11,70" under the PHP
// scalars fault.
func (sh shape) euro(c int64) any {
	if sh.phpScalars {
		return phpEuro(float64(c) / 100)
	}
	return euroNumber(c)
}

// accountAuthorized checks "Authorization: Basic base64(email:apikey)"
// against Config.AccountEmail and Config.AccountAPIKey; unless both are
// set, nothing passes.
func (s *Server) accountAuthorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok || s.accountEmail == "" || s.accountAPIKey == "" {
		return false
	}
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.accountEmail))
	p := subtle.ConstantTimeCompare([]byte(pass), []byte(s.accountAPIKey))
	return u&p == 1
}

// getWallet serves GET /wallet: the balance, the wallet's creation (the
// Server's start) and its last movement.
func (s *Server) getWallet(w http.ResponseWriter, sh shape) {
	balance, created, updated := s.ledger.state()
	writeAccountData(w, walletWire{Credit: sh.euro(balance), CreatedAt: created.Format(accountTime), UpdatedAt: updated.Format(accountTime)})
}

// listTransactions serves GET /wallet/transactions?skip=&limit=, newest
// first.
func (s *Server) listTransactions(w http.ResponseWriter, r *http.Request, sh shape) {
	skip, limit := pageOf(r.URL.Query())
	txs := s.ledger.page(skip, limit)
	list := make([]transactionWire, len(txs)) // never null: an empty page is []
	for i, t := range txs {
		list[i] = transactionWire{ID: t.ID, Amount: sh.euro(t.Amount), CreatedAt: t.CreatedAt.Format(accountTime), Description: t.Description}
	}
	var data any = list
	if sh.objectLists {
		data = objectList(list)
	}
	writeAccountData(w, data)
}

// pageOf reads skip (default 0) and limit (default maxTransactions, and at
// most that) leniently: a value that is not a number, or out of range,
// gets the default (sim-chosen: the reference describes no error).
func pageOf(q url.Values) (skip, limit int) {
	skip, err := strconv.Atoi(q.Get("skip"))
	if err != nil || skip < 0 {
		skip = 0
	}
	limit, err = strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 || limit > maxTransactions {
		limit = maxTransactions
	}
	return skip, limit
}

// writeAccountData writes {"data": v}.
func writeAccountData(w http.ResponseWriter, v any) {
	b, err := json.Marshal(struct {
		Data any `json:"data"`
	}{v})
	if err != nil {
		writeError(w, apiError{http.StatusInternalServerError, http.StatusInternalServerError, "sim: encode answer: " + err.Error()})
		return
	}
	writeBody(w, http.StatusOK, b)
}
