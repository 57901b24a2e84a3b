package bindflow

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
	"github.com/bindery-dev/bindery/backend/internal/auth/oidclogin"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
)

// codeName is the Codec name of one-time codes, so that no other signed
// value (a state, a cookie) decodes as one.
const codeName = "code"

// A grant is what a one-time code carries, signed and encrypted: the
// session that chose, what it chose, and until when the code can be
// redeemed. No credential: that is issued when the code is redeemed.
type grant struct {
	Session session.Session `json:"s"`
	Offer   string          `json:"o"`
	Expires time.Time       `json:"exp"`
}

// exchange redeems a one-time code for the BindingResponse: only with the
// verifier whose challenge started the login, before the code expires,
// and once per login (onboarding.RecordBind).
func (h *Handler) exchange(w http.ResponseWriter, r *http.Request) {
	noCache(w)
	req := &bindprotocol.ExchangeRequest{}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, bindprotocol.MaxExchangeBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(req); err != nil {
		h.refuse(w, r, &refusal{http.StatusBadRequest, "The exchange request is not valid", "The body must be a JSON ExchangeRequest: " + err.Error(), "Use kubectl bind; run it again."})
		return
	}
	if err := req.Validate(); err != nil {
		h.refuse(w, r, &refusal{http.StatusBadRequest, "The exchange request is not valid", err.Error(), "Use kubectl bind; run it again."})
		return
	}
	g := grant{}
	if err := h.Codec.Decode(codeName, req.Code, &g); err != nil {
		h.refuse(w, r, &refusal{http.StatusBadRequest, "This code is not valid", "The code is not one this provider issued, or it was altered.", "Run kubectl bind again."})
		return
	}
	if h.now().After(g.Expires) {
		h.refuse(w, r, &refusal{http.StatusBadRequest, "This code has expired", "A code must be redeemed within " + codeTTL.String() + " of the bind.", "Run kubectl bind again."})
		return
	}
	if subtle.ConstantTimeCompare([]byte(bindprotocol.Challenge(req.Verifier)), []byte(g.Session.Challenge)) != 1 {
		h.Log.Info("Refused a code redeemed without its verifier", "subject", g.Session.Subject, "cluster", g.Session.ClusterID)
		h.refuse(w, r, &refusal{http.StatusBadRequest, "This code belongs to another login", "The verifier does not match the challenge the login started with.", "Run kubectl bind again."})
		return
	}
	s := g.Session
	if !h.allowed(&oidclogin.Identity{Subject: s.Subject, Name: s.Name, Groups: s.Groups}) {
		h.refuse(w, r, &refusal{http.StatusForbidden, "You are not allowed to bind", "Your account may not bind services of " + h.ProviderPrettyName + ".", "Ask the provider's operators for access."})
		return
	}
	offers, err := h.offers(r.Context())
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	o, found := findOffer(offers, g.Offer, "", "")
	switch {
	case !found:
		h.refuse(w, r, &refusal{http.StatusNotFound, "This service is no longer offered", fmt.Sprintf("%s offers nothing named %q any more.", h.ProviderPrettyName, g.Offer), "Run kubectl bind again and choose another."})
		return
	case !o.Ready:
		h.refuse(w, r, &refusal{http.StatusConflict, "This service cannot be bound right now", o.Problem, "Try again later, or tell the provider's operators."})
		return
	}
	response, err := h.complete(r.Context(), s, o, req.ClusterKey)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(response)
}

// A refusal is a bind that cannot proceed, with what the user is told.
type refusal struct {
	status              int
	title, detail, hint string
}

func (r *refusal) Error() string { return r.title + ": " + r.detail }

// bindRefusal turns onboarding's reasons to refuse a bind into what the
// user is told; other errors stay internal.
func bindRefusal(err error) error {
	switch {
	case errors.Is(err, onboarding.ErrSessionUsed):
		return &refusal{http.StatusConflict, "This login has already bound", "Each login binds once.", "Run kubectl bind again to bind more."}
	case errors.Is(err, onboarding.ErrClusterKey):
		return &refusal{http.StatusForbidden, "This request does not come from the cluster it names", "The cluster was first bound from a kubectl bind that showed another cluster key: this login was started by someone else's link, or from another cluster claiming this one's ID.", "Run kubectl bind yourself, from the cluster you want to bind. If the cluster's kube-bind/" + bindprotocol.ClusterSecretName + " Secret was lost, ask the provider's operators to remove the cluster key from your cluster namespace."}
	case errors.Is(err, onboarding.ErrClusterKeyRequired):
		return &refusal{http.StatusForbidden, "This cluster binds only with Bindery's kubectl bind", "The cluster was bound with Bindery's kubectl bind, which proves it is the cluster; this client cannot.", "Bind with Bindery's kubectl bind."}
	case errors.Is(err, onboarding.ErrTooManyBinds):
		return &refusal{http.StatusTooManyRequests, "Too many binds of this cluster", err.Error() + ".", "Wait half an hour, or bind several services in fewer logins."}
	}
	return err
}

// refuse answers a failed bind or exchange: a refusal as it says, anything
// else as an internal error.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var rf *refusal
	if !errors.As(err, &rf) {
		h.internal(w, r, err)
		return
	}
	h.fail(w, r, rf.status, rf.title, rf.detail, rf.hint)
}
