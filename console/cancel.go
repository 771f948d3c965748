package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/record"
)

// cancelledFields are the query fields of the notice after a cancel, which
// its redirect signs (auth.signNotice).
var cancelledFields = []string{"tenant", "id", "cancelled"}

// cancelTarget reads the tenant and id of a cancel (the query of its
// confirmation, the form of its POST); ok is false, the page answered,
// when they are not a submission's.
func (c *Console) cancelTarget(w http.ResponseWriter, r *http.Request, tenant, id string) (submissionData, bool) {
	d := submissionData{Tenant: strings.TrimSpace(tenant), ID: strings.TrimSpace(id)}
	if !record.ValidToken(d.Tenant) || !record.ValidToken(d.ID) {
		c.fail(w, r, http.StatusBadRequest, "A tenant and a submission id are each 1 to 64 letters, digits, _ or -.")
		return d, false
	}
	return d, true
}

func (c *Console) confirmCancel(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if d, ok := c.cancelTarget(w, r, q.Get("tenant"), q.Get("id")); ok {
		c.render(w, r, http.StatusOK, "cancelheld", "Cancel submission "+d.Tenant+"/"+d.ID, d)
	}
}

// cancelUnsent cancels a submission not sent yet (held, or claimed by a
// worker waiting for its upstream token), as iseed cancel does
// (consumer.CancelUnsent), and goes back to its page with a notice; one it
// does not cancel (sent or closed, being sent, unknown) is said, nothing
// changed.
func (c *Console) cancelUnsent(w http.ResponseWriter, r *http.Request) {
	d, ok := c.cancelTarget(w, r, r.PostFormValue("tenant"), r.PostFormValue("id"))
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	log := c.log.With().Str("tenant", d.Tenant).Str("submission", d.ID).Str("remote", c.remote(r)).Logger()
	res, err := consumer.CancelUnsent(ctx, c.d.JS, c.d.Resources, d.Tenant, d.ID, c.cfg.Now())
	if errors.Is(err, consumer.ErrCancelMarked) {
		// Marked: the submission is cancelled, only its message is not
		// sent again yet. A cancel all the same: an audit line, which a
		// failure's warning is not.
		audit(log).Err(err).Msg("console: held submission marked cancelled, its message not sent again")
		c.fail(w, r, http.StatusBadGateway, "Cancelled, but not at once: "+err.Error())
		return
	}
	if err != nil {
		log.Warn().Err(err).Msg("console: cancel failed")
		c.fail(w, r, http.StatusBadGateway, "The cancel failed: "+err.Error())
		return
	}
	if res.Outcome != consumer.CancelDone {
		status := http.StatusConflict
		if res.Outcome == consumer.CancelUnknown {
			status = http.StatusNotFound
		}
		c.fail(w, r, status, "Not cancelled: "+res.Why+".")
		return
	}
	audit(log).Msg("console: held submission cancelled")
	v := url.Values{"tenant": {d.Tenant}, "id": {d.ID}, "cancelled": {"1"}}
	c.auth.signNotice(v, cancelledFields...)
	http.Redirect(w, r, "/submission?"+v.Encode(), http.StatusSeeOther)
}
