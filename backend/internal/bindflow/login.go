// Package bindflow is the backend's HTTP side: the kube-bind v1alpha1
// binding flow that kubectl bind (Bindery's or kube-bind's) drives in the
// user's browser.
//
//	GET  /export     the BindingProvider document
//	GET  /authorize  starts an OIDC login for a CLI session
//	GET  /callback   ends the login and opens a session
//	GET  /resources  the selection page (needs a session)
//	GET  /bind       kube-bind's form (?group=&resource=): asks to confirm
//	POST /bind       binds a template or a resource (session + CSRF token)
//	POST /exchange   redeems a bind's one-time code (Bindery's CLI)
//
// A bind onboards the consumer cluster (namespace, ServiceAccount, RBAC,
// ClusterBinding) and issues a kubeconfig with an expiring token. Bindery's
// CLI, which starts the login with a code challenge (package bindprotocol),
// gets a one-time code at its loopback callback and redeems it over the
// back channel; kube-bind's CLI gets the base64 BindingResponse in the
// callback URL.
package bindflow

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/oauth2"

	"github.com/bindery-dev/bindery/backend/internal/auth/oidclogin"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
)

// Step 1 of a bind: /authorize checks the CLI's parameters and sends the
// browser to the OIDC provider; /callback verifies the login and starts
// the session that the next steps read.

func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) {
	p, err := parseAuthorize(r.URL.Query())
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "This login link is not valid", err.Error(), "Run kubectl bind again and open the link it prints.")
		return
	}
	login := session.Login{
		ID:        session.RandomString(16),
		Redirect:  p.Redirect,
		SessionID: p.SessionID,
		ClusterID: p.ClusterID,
		Verifier:  oauth2.GenerateVerifier(),
		Nonce:     session.RandomString(16),
		Challenge: p.Challenge,
		Expires:   h.now().Add(loginTTL),
	}
	state, err := h.Codec.Encode(stateName, session.State{LoginID: login.ID, SessionID: login.SessionID, Expires: login.Expires})
	if err != nil {
		h.internal(w, r, err)
		return
	}
	to, err := h.Login.AuthCodeURL(r.Context(), state, login.Verifier, login.Nonce)
	if err != nil {
		h.Log.Error(err, "Cannot start a login")
		h.fail(w, r, http.StatusBadGateway, "The identity provider cannot be reached", "This provider could not reach its login service.", "Try again in a minute; if it persists, tell the provider's operators.")
		return
	}
	if err := h.Codec.SetCookie(w, loginCookie(login.SessionID), login, loginTTL); err != nil {
		h.internal(w, r, err)
		return
	}
	noCache(w)
	http.Redirect(w, r, to, http.StatusFound)
}

func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		h.fail(w, r, http.StatusBadRequest, "The login did not complete", fmt.Sprintf("The identity provider answered %q: %s", e, q.Get("error_description")), "Run kubectl bind again.")
		return
	}
	if q.Get("code") == "" || q.Get("state") == "" {
		h.fail(w, r, http.StatusBadRequest, "The login did not complete", "The identity provider's answer lacks the code or the state.", "Run kubectl bind again.")
		return
	}
	state := session.State{}
	if err := h.Codec.Decode(stateName, q.Get("state"), &state); err != nil {
		h.fail(w, r, http.StatusBadRequest, "This login answer is not valid", "The state parameter is not one this provider issued, or it was altered.", "Run kubectl bind again.")
		return
	}
	if h.now().After(state.Expires) {
		h.fail(w, r, http.StatusBadRequest, "Your login expired", "The login took longer than "+loginTTL.String()+".", "Run kubectl bind again.")
		return
	}
	login := session.Login{}
	if err := h.Codec.ReadCookie(r, loginCookie(state.SessionID), &login); err != nil || login.ID != state.LoginID {
		h.fail(w, r, http.StatusBadRequest, "No login in progress in this browser", "This answer belongs to a login started in another browser, or one that is already finished.", "Run kubectl bind again and finish the login in the browser it opens.")
		return
	}
	id, err := h.Login.Exchange(r.Context(), q.Get("code"), login.Verifier, login.Nonce)
	if err != nil {
		h.Log.Info("Login failed", "error", err.Error())
		status := http.StatusBadRequest
		if errors.Is(err, oidclogin.ErrUnreachable) {
			status = http.StatusBadGateway
		}
		h.fail(w, r, status, "The login did not complete", err.Error(), "Run kubectl bind again.")
		return
	}
	if !h.allowed(id) {
		h.Log.Info("Refused a user outside the allowed users and groups", "issuer", id.Issuer, "subject", id.Subject)
		h.Codec.ClearCookie(w, loginCookie(state.SessionID))
		h.fail(w, r, http.StatusForbidden, "You are not allowed to bind", fmt.Sprintf("You are signed in as %s, who may not bind services of %s.", displayName(id), h.ProviderPrettyName), "Ask the provider's operators for access.")
		return
	}
	s := session.Session{
		Issuer: id.Issuer, Subject: id.Subject, Name: id.Name, Groups: id.Groups,
		SessionID: login.SessionID, ClusterID: login.ClusterID, Redirect: login.Redirect, Challenge: login.Challenge,
		CSRF: session.RandomString(24), Expires: h.now().Add(sessionTTL),
	}
	if err := h.Codec.SetCookie(w, sessionCookie(s.SessionID), s, sessionTTL); err != nil {
		h.internal(w, r, err)
		return
	}
	h.Codec.ClearCookie(w, loginCookie(s.SessionID))
	noCache(w)
	http.Redirect(w, r, "/resources?s="+url.QueryEscape(s.SessionID), http.StatusFound)
}

func displayName(id *oidclogin.Identity) string {
	if id.Name != "" {
		return id.Name
	}
	return id.Subject
}

func (h *Handler) allowed(id *oidclogin.Identity) bool {
	return h.Allowed.Allows(id.Subject, id.Name, id.Groups)
}

// session returns the session of the request's s parameter, or writes a
// 401 page and returns false.
func (h *Handler) session(w http.ResponseWriter, r *http.Request, sid string) (session.Session, bool) {
	s := session.Session{}
	if !validSessionID.MatchString(sid) {
		h.fail(w, r, http.StatusBadRequest, "This page needs a session", "The s parameter is missing or malformed.", "Run kubectl bind and follow the link it prints.")
		return s, false
	}
	err := h.Codec.ReadCookie(r, sessionCookie(sid), &s)
	switch {
	case err != nil:
		h.fail(w, r, http.StatusUnauthorized, "Your session is unknown or has expired", "This browser has no valid login for this kubectl bind session.", "Run kubectl bind again and log in.")
		return s, false
	case h.now().After(s.Expires):
		h.fail(w, r, http.StatusUnauthorized, "Your session has expired", "Sessions last "+sessionTTL.String()+".", "Run kubectl bind again and log in.")
		return s, false
	case s.SessionID != sid:
		h.fail(w, r, http.StatusUnauthorized, "Your session is unknown or has expired", "The session does not match this page.", "Run kubectl bind again and log in.")
		return s, false
	case !h.allowed(&oidclogin.Identity{Subject: s.Subject, Name: s.Name, Groups: s.Groups}):
		h.fail(w, r, http.StatusForbidden, "You are not allowed to bind", "Your account may not bind services of "+h.ProviderPrettyName+".", "Ask the provider's operators for access.")
		return s, false
	}
	return s, true
}
