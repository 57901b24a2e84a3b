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
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Responses shared by every step: pages, JSON, errors and the same-origin
// check.

// sameOrigin rejects a POST whose Origin (or, lacking it, Referer) is
// another site.
func sameOrigin(r *http.Request, external string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		if ref := r.Header.Get("Referer"); ref != "" {
			if u, err := url.Parse(ref); err == nil {
				origin = u.Scheme + "://" + u.Host
			}
		}
	}
	if origin == "" {
		return true // non-browser clients; the CSRF token still applies
	}
	ext, err := url.Parse(external)
	if err != nil {
		return false
	}
	return strings.EqualFold(origin, ext.Scheme+"://"+ext.Host) || strings.EqualFold(origin, "http://"+r.Host) || strings.EqualFold(origin, "https://"+r.Host)
}

func noCache(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, data any) {
	noCache(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http://localhost:* http://127.0.0.1:* http://[::1]:*; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		h.Log.Error(err, "Rendering page", "page", name)
	}
}

// fail answers with an error page, or JSON for clients that ask for it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, title, detail, hint string) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, status, map[string]string{"error": title, "detail": detail, "hint": hint})
		return
	}
	h.render(w, status, "error.html", map[string]any{"Provider": h.ProviderPrettyName, "Title": title, "Detail": detail, "Hint": hint, "Status": status})
}

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.Log.Error(err, "Request failed", "path", r.URL.Path)
	h.fail(w, r, http.StatusInternalServerError, "Something went wrong on the provider", "The provider could not complete this step.", "Try again; if it persists, tell the provider's operators.")
}
