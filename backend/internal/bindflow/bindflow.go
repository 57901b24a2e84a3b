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
	"context"
	"embed"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/mux"
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/backend/internal/access"
	"github.com/bindery-dev/bindery/backend/internal/auth/oidclogin"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
)

// ProtocolVersion is the kube-bind version whose wire protocol the backend
// speaks; kube-bind's CLI checks it in the BindingProvider.
const ProtocolVersion = "v0.4.6"

// Lifetimes of the login and of the session that follows it.
const (
	loginTTL   = 10 * time.Minute
	sessionTTL = session.MaxLifetime
	// codeTTL bounds the time from a bind to its code's redemption, which
	// the CLI does at once.
	codeTTL = 2 * time.Minute
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"join": strings.Join,
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}).ParseFS(templateFS, "templates/*.html"))

// Login runs OIDC logins; oidclogin.Client implements it.
type Login interface {
	AuthCodeURL(ctx context.Context, state, verifier, nonce string) (string, error)
	Exchange(ctx context.Context, code, verifier, nonce string) (*oidclogin.Identity, error)
}

// Credentials issue kubeconfigs; credentials.Issuer implements it.
type Credentials interface {
	Issue(ctx context.Context, namespace string) ([]byte, error)
}

// Handler serves the binding flow.
type Handler struct {
	// ExternalURL is where browsers and CLIs reach the backend.
	ExternalURL        string
	ProviderPrettyName string
	Login              Login
	Codec              *session.Codec
	// Client reads templates and CRDs, from a cache.
	Client client.Client
	// Writer onboards consumers, without a cache.
	Writer      client.Client
	Credentials Credentials
	// Allowed is who may bind.
	Allowed access.AllowList
	// NewClustersPerMinute bounds how many new consumer clusters one user
	// can onboard per minute; 0 means no bound.
	NewClustersPerMinute int
	// MaxObjectsPerNamespace is the backend's bound on a consumer's objects
	// of a resource per namespace, which the selection page shows for
	// services without their own; 0 means no bound.
	MaxObjectsPerNamespace int
	// PublicCatalog serves the list of services at /templates without a
	// login, for kubectl bind templates.
	PublicCatalog bool
	Log           logr.Logger
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// maxBody bounds a request body: a bind form is a few hundred bytes.
const maxBody = 64 << 10

// Routes adds the flow's routes to r.
func (h *Handler) Routes(r *mux.Router) {
	r.Use(func(next http.Handler) http.Handler { return http.MaxBytesHandler(next, maxBody) })
	r.HandleFunc("/export", h.export).Methods(http.MethodGet)
	r.HandleFunc("/templates", h.templates).Methods(http.MethodGet)
	r.HandleFunc("/authorize", h.authorize).Methods(http.MethodGet)
	r.HandleFunc("/callback", h.callback).Methods(http.MethodGet)
	r.HandleFunc("/resources", h.resources).Methods(http.MethodGet)
	r.HandleFunc("/bind", h.confirm).Methods(http.MethodGet)
	r.HandleFunc("/bind", h.bind).Methods(http.MethodPost)
	r.HandleFunc("/"+bindprotocol.ExchangePath, h.exchange).Methods(http.MethodPost)
	r.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }).Methods(http.MethodGet)
}

func loginCookie(sid string) string   { return "bindery_login_" + sid }
func sessionCookie(sid string) string { return "bindery_session_" + sid }

const stateName = "state"

func (h *Handler) export(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, &kubebindv1alpha1.BindingProvider{
		TypeMeta:           metav1.TypeMeta{APIVersion: kubebindv1alpha1.GroupVersion, Kind: "BindingProvider"},
		ProviderPrettyName: h.ProviderPrettyName,
		Version:            ProtocolVersion,
		AuthenticationMethods: []kubebindv1alpha1.AuthenticationMethod{{
			Method:          "OAuth2CodeGrant",
			OAuth2CodeGrant: &kubebindv1alpha1.OAuth2CodeGrant{AuthenticatedURL: h.ExternalURL + "/authorize"},
		}},
	})
}

// templates lists the services, when the operator made the catalog public.
func (h *Handler) templates(w http.ResponseWriter, r *http.Request) {
	if !h.PublicCatalog {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "this provider shows its services only after login"})
		return
	}
	offers, err := h.offers(r.Context())
	if err != nil {
		h.Log.Error(err, "Listing the services")
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "the services cannot be listed right now"})
		return
	}
	l := catalog.Listing{ProviderPrettyName: h.ProviderPrettyName, Services: []catalog.ListedService{}}
	for _, o := range offers {
		s := catalog.ListedService{Name: o.Name, DisplayName: o.Spec.DisplayName, Description: o.Spec.Description, Ready: o.Ready, Problem: o.Problem, Claims: o.Claims}
		for _, res := range o.Spec.Resources {
			s.Resources = append(s.Resources, res.Resource+"."+res.Group)
		}
		l.Services = append(l.Services, s)
	}
	writeJSON(w, http.StatusOK, l)
}
