package visengine

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// Visure returns the account's catalog of services (GET /visure).
func (c *Client) Visure(ctx context.Context) ([]VisuraSummary, error) {
	var out list[VisuraSummary]
	k := call{method: http.MethodGet, route: "/visure", path: "/visure"}
	if err := c.do(ctx, k, c.json(&out)); err != nil {
		return nil, err
	}
	return out.items(), nil
}

// Visura returns one service's schema, prices and options (GET /visure/{hash}).
func (c *Client) Visura(ctx context.Context, hash string) (*Visura, error) {
	k, err := withID(http.MethodGet, "/visure/{hash}", "/visure/", hash, nil)
	if err != nil {
		return nil, err
	}
	var out Visura
	if err := c.do(ctx, k, c.json(&out)); err != nil {
		return nil, err
	}
	return &out, nil
}

// Richieste returns the summaries of the account's requests (GET
// /richiesta). The API answers an account without requests with HTTP 404
// and code 203; Richieste returns an empty list for it.
func (c *Client) Richieste(ctx context.Context) ([]RichiestaSummary, error) {
	var out list[RichiestaSummary]
	k := call{method: http.MethodGet, route: "/richiesta", path: "/richiesta", list: true}
	err := c.do(ctx, k, &jsonAnswer{out: &out, max: int(c.maxList)})
	var e *Error
	if errors.As(err, &e) && e.Class == ClassNotFound && e.Code == CodeNoRequests {
		return []RichiestaSummary{}, nil
	}
	if err != nil {
		return nil, err
	}
	return out.items(), nil
}

// CreateRichiesta creates a request (POST /richiesta). When it fails with
// ClassAmbiguous the request may exist (and be charged): look for it with
// Richieste before creating it again.
func (c *Client) CreateRichiesta(ctx context.Context, req CreateRequest) (*Richiesta, error) {
	k := call{method: http.MethodPost, route: "/richiesta", path: "/richiesta", body: req}
	r, err := c.richiesta(ctx, k)
	if err == nil && r.ID == "" && !req.Test {
		// A success that names no request (a gateway's empty 200, say): the
		// request may exist all the same.
		return nil, &Error{Op: k.op(), Status: http.StatusOK, Class: ClassAmbiguous, Message: "the answer names no request (_id missing)"}
	}
	return r, err
}

// Richiesta returns a request in full (GET /richiesta/{id}): the polling call.
func (c *Client) Richiesta(ctx context.Context, id string) (*Richiesta, error) {
	k, err := withID(http.MethodGet, "/richiesta/{id}", "/richiesta/", id, nil)
	if err != nil {
		return nil, err
	}
	return c.richiesta(ctx, k)
}

// UpdateRichiesta edits an open (state 0) request, or submits it with
// State 1 (PUT /richiesta/{id}).
func (c *Client) UpdateRichiesta(ctx context.Context, id string, req UpdateRequest) (*Richiesta, error) {
	k, err := withID(http.MethodPut, "/richiesta/{id}", "/richiesta/", id, req)
	if err != nil {
		return nil, err
	}
	return c.richiesta(ctx, k)
}

// deleteBody is the body of DELETE /richiesta/{id}.
type deleteBody struct {
	Motivo string `json:"motivo"`
}

// DeleteRichiesta cancels a request, giving the reason (DELETE
// /richiesta/{id} with {"motivo": …}).
func (c *Client) DeleteRichiesta(ctx context.Context, id, motivo string) (*Richiesta, error) {
	k, err := withID(http.MethodDelete, "/richiesta/{id}", "/richiesta/", id, deleteBody{Motivo: motivo})
	if err != nil {
		return nil, err
	}
	return c.richiesta(ctx, k)
}

// searchBody is the body of POST /richiesta/{id}.
type searchBody struct {
	JSONVisura map[string]string `json:"json_visura"`
}

// chooseBody is the body of PUT /richiesta/{id}/ricerche.
type chooseBody struct {
	IDRicerca string `json:"id_ricerca"`
	Indice    int    `json:"indice"`
}

// AddRicerca adds a search to a request of a service with ricerca: true
// (POST /richiesta/{id} with {"json_visura": …}); it may be charged
// (prezzo_ricerca), so a lost answer is ambiguous. The Patronato services
// have no search: the call is there for completeness, and checked against
// the published examples only.
func (c *Client) AddRicerca(ctx context.Context, id string, values map[string]string) (*Richiesta, error) {
	k, err := withID(http.MethodPost, "/richiesta/{id}", "/richiesta/", id, searchBody{JSONVisura: values})
	if err != nil {
		return nil, err
	}
	return c.richiesta(ctx, k)
}

// ChooseRicerca chooses result indice of search idRicerca for a request
// (PUT /richiesta/{id}/ricerche), which then goes on; it may be charged.
// As AddRicerca, it is checked against the published examples only.
func (c *Client) ChooseRicerca(ctx context.Context, id, idRicerca string, indice int) (*Richiesta, error) {
	k, err := withID(http.MethodPut, "/richiesta/{id}/ricerche", "/richiesta/", id, chooseBody{IDRicerca: idRicerca, Indice: indice})
	if err != nil {
		return nil, err
	}
	k.path += "/ricerche"
	return c.richiesta(ctx, k)
}

// richiesta makes a call that answers one request. The answer is streamed
// (see Richiesta): only MaxValueBytes per value and MaxResponseBytes in all
// are kept, and its size is not limited. A call on /richiesta/{id} succeeds
// only with an answer whose _id is that id: one naming another request, or
// none, is unreadable (retryable for a GET, ambiguous otherwise).
func (c *Client) richiesta(ctx context.Context, k call) (*Richiesta, error) {
	k.streamed = true
	a := newRichiestaAnswer(c.maxValue, c.maxResp, !idempotent(k.method))
	a.want = k.id
	if err := c.do(ctx, k, a); err != nil {
		return nil, err
	}
	return &a.r, nil
}

func (c *Client) json(out any) *jsonAnswer {
	return &jsonAnswer{out: out, max: int(c.maxResp)}
}

// withID builds a call on prefix+id. The id is escaped as one path segment;
// an empty id, or one that a server would resolve as a relative path ("."
// or ".."), is refused without a call.
func withID(method, route, prefix, id string, body any) (call, error) {
	k := call{method: method, route: route, body: body, document: route == documentRoute}
	if id == "" || id == "." || id == ".." {
		return k, &Error{Op: k.op(), Class: ClassPermanent, Message: "invalid id " + `"` + id + `"`}
	}
	k.path, k.id = prefix+url.PathEscape(id), id
	return k, nil
}
