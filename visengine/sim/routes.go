package sim

import (
	"net/http"
	"strings"
)

// endpoint is one API call of the reference.
type endpoint int

const (
	epListVisure endpoint = iota
	epGetVisura
	epListRequests
	epCreate
	epGetRequest
	epUpdate
	epDelete
	epSearch
	epChoose
	epDocument
	epWallet       // account API
	epTransactions // account API
	numEndpoints
)

// account reports whether ep is a call of the account API (HTTP Basic),
// not of Visengine (Bearer).
func (ep endpoint) account() bool { return ep == epWallet || ep == epTransactions }

// String returns the endpoint's Counters and Faults key.
func (ep endpoint) String() string {
	switch ep {
	case epListVisure:
		return "GET /visure"
	case epGetVisura:
		return "GET /visure/{hash}"
	case epListRequests:
		return "GET /richiesta"
	case epCreate:
		return "POST /richiesta"
	case epGetRequest:
		return "GET /richiesta/{id}"
	case epUpdate:
		return "PUT /richiesta/{id}"
	case epDelete:
		return "DELETE /richiesta/{id}"
	case epSearch:
		return "POST /richiesta/{id}"
	case epChoose:
		return "PUT /richiesta/{id}/ricerche"
	case epDocument:
		return "GET /documento/{id}"
	case epWallet:
		return "GET /wallet"
	case epTransactions:
		return "GET /wallet/transactions"
	}
	return "unknown"
}

func endpointByName(name string) (endpoint, bool) {
	for ep := range numEndpoints {
		if ep.String() == name {
			return ep, true
		}
	}
	return 0, false
}

// route maps a method and path to an endpoint and its path parameter (a hash
// or an id; empty for "/richiesta/" or "/documento"). Unknown paths get a 404
// and known paths with another method a 405.
func route(method, path string) (endpoint, string, *apiError) {
	shape, param := pathShape(path)
	ep := endpoint(-1)
	switch shape {
	case "visure":
		ep = only(method, http.MethodGet, epListVisure)
	case "visure/_":
		ep = only(method, http.MethodGet, epGetVisura)
	case "richiesta":
		ep = richiestaRoute(method, epListRequests, epCreate)
	case "richiesta/_":
		ep = richiestaRoute(method, epGetRequest, epSearch)
	case "richiesta/_/ricerche":
		ep = only(method, http.MethodPut, epChoose)
	case "documento", "documento/_":
		ep = only(method, http.MethodGet, epDocument)
	case "wallet":
		ep = only(method, http.MethodGet, epWallet)
	case "wallet/_":
		if param != "transactions" {
			return notFound()
		}
		ep, param = only(method, http.MethodGet, epTransactions), ""
	default:
		return notFound()
	}
	if ep < 0 {
		return 0, "", &apiError{http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "method not allowed"}
	}
	return ep, param, nil
}

func notFound() (endpoint, string, *apiError) {
	return 0, "", &apiError{http.StatusNotFound, http.StatusNotFound, "not found"}
}

// pathShape reduces a path to its resource shape, with the parameter as "_":
// "/richiesta/abc/ricerche" is "richiesta/_/ricerche" with parameter "abc".
func pathShape(path string) (shape, param string) {
	resource, rest, hasParam := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !hasParam {
		return resource, ""
	}
	param, sub, hasSub := strings.Cut(rest, "/")
	if !hasSub {
		return resource + "/_", param
	}
	return resource + "/_/" + sub, param
}

func only(method, want string, ep endpoint) endpoint {
	if method == want {
		return ep
	}
	return -1
}

// richiestaRoute routes /richiesta and /richiesta/{id}: PUT and DELETE go to
// the item endpoints even without an id (answering "id required").
func richiestaRoute(method string, get, post endpoint) endpoint {
	switch method {
	case http.MethodGet:
		return get
	case http.MethodPost:
		return post
	case http.MethodPut:
		return epUpdate
	case http.MethodDelete:
		return epDelete
	}
	return -1
}
