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
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/gorilla/mux"
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/bindprotocol"
	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/access"
	"github.com/bindery-dev/bindery/backend/internal/auth/oidclogin"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/controller/templatestatus"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
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

// offer is one bindable service as the selection page shows it.
type offer struct {
	catalog.Service
	Ready   bool
	Problem string
	Claims  []string
}

func (h *Handler) offers(ctx context.Context) ([]offer, error) {
	templates := &binderyv1alpha1.APIServiceExportTemplateList{}
	if err := h.Client.List(ctx, templates); err != nil {
		return nil, fmt.Errorf("listing templates: %w", err)
	}
	crds := &apiextensionsv1.CustomResourceDefinitionList{}
	if err := h.Client.List(ctx, crds); err != nil {
		return nil, fmt.Errorf("listing CRDs: %w", err)
	}
	var out []offer
	for _, svc := range catalog.Build(templates.Items, crds.Items) {
		cond := templatestatus.Ready(templatestatus.Resources(svc.Spec, crds.Items), 0)
		o := offer{Service: svc, Ready: cond.Status == metav1.ConditionTrue}
		if !o.Ready {
			o.Problem = cond.Message
		}
		for _, c := range svc.Spec.PermissionClaims {
			o.Claims = append(o.Claims, describeClaim(c))
		}
		out = append(out, o)
	}
	return out, nil
}

func describeClaim(c binderyv1alpha1.PermissionClaim) string {
	what := c.Resource
	if c.Group != "" {
		what += "." + c.Group
	}
	dir := "from the provider to your cluster"
	if c.Direction == binderyv1alpha1.ClaimConsumerToProvider {
		dir = "from your cluster to the provider"
	}
	sel := "all in the bound namespaces"
	switch s := c.Selector; {
	case len(s.Names) > 0:
		sel = "named " + strings.Join(s.Names, ", ")
	case s.LabelSelector != nil:
		sel = "selected by " + metav1.FormatLabelSelector(s.LabelSelector)
	case s.Reference != nil:
		sel = "referenced by ." + s.Reference.NamePath
	}
	return fmt.Sprintf("%s %s, %s", what, sel, dir)
}

func (h *Handler) resources(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(w, r, r.URL.Query().Get("s"))
	if !ok {
		return
	}
	offers, err := h.offers(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return
	}
	h.render(w, http.StatusOK, "resources.html", map[string]any{
		"Provider": h.ProviderPrettyName, "Session": s, "Offers": offers,
	})
}

// findOffer finds the offer a bind names: a template (or exported CRD) by
// name, or, in kube-bind's form, the first offer of group/resource.
func findOffer(offers []offer, name, group, resource string) (offer, bool) {
	for _, o := range offers {
		if name != "" && o.Name == name {
			return o, true
		}
		if name == "" && resource != "" && o.Offers(group, resource) {
			return o, true
		}
	}
	return offer{}, false
}

// confirm answers kube-bind's GET /bind?s=&group=&resource= with a page
// that asks to confirm: a GET never binds, so a link cannot bind for the
// user.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s, ok := h.session(w, r, q.Get("s"))
	if !ok {
		return
	}
	o, ok := h.chosenOffer(w, r, q)
	if !ok {
		return
	}
	h.render(w, http.StatusOK, "confirm.html", map[string]any{"Provider": h.ProviderPrettyName, "Session": s, "Offer": o})
}

// chosenOffer finds the offer that the template, or group and resource,
// parameters of v name, or writes a 404 page.
func (h *Handler) chosenOffer(w http.ResponseWriter, r *http.Request, v url.Values) (offer, bool) {
	offers, err := h.offers(r.Context())
	if err != nil {
		h.internal(w, r, err)
		return offer{}, false
	}
	o, found := findOffer(offers, v.Get("template"), v.Get("group"), v.Get("resource"))
	if !found {
		name := firstNonEmpty(v.Get("template"), v.Get("resource")+"."+v.Get("group"))
		h.fail(w, r, http.StatusNotFound, "This service is not offered", fmt.Sprintf("%s offers nothing named %q.", h.ProviderPrettyName, name), "Pick a service on the selection page.")
		return offer{}, false
	}
	return o, true
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" && v != "." {
			return v
		}
	}
	return ""
}

func (h *Handler) bind(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "The form is not valid", err.Error(), "Go back and try again.")
		return
	}
	f := r.PostForm
	s, ok := h.session(w, r, f.Get("s"))
	if !ok {
		return
	}
	if subtle.ConstantTimeCompare([]byte(f.Get("csrf")), []byte(s.CSRF)) != 1 || !sameOrigin(r, h.ExternalURL) {
		h.fail(w, r, http.StatusForbidden, "This request did not come from the selection page", "The form's security token is missing or wrong.", "Open the selection page again and choose there.")
		return
	}
	o, ok := h.chosenOffer(w, r, f)
	if !ok {
		return
	}
	if !o.Ready {
		h.fail(w, r, http.StatusConflict, "This service cannot be bound right now", o.Problem, "Try again later, or tell the provider's operators.")
		return
	}

	to, _ := url.Parse(s.Redirect) // checked at /authorize
	v := to.Query()
	if s.Challenge != "" {
		// Bindery's CLI: a one-time code, which only the CLI that holds
		// the verifier can redeem at /exchange; no credential in the URL.
		code, err := h.Codec.Encode(codeName, grant{Session: s, Offer: o.Name, Expires: h.now().Add(codeTTL)})
		if err != nil {
			h.internal(w, r, err)
			return
		}
		v.Set(bindprotocol.CodeParam, code)
	} else {
		// kube-bind's CLI understands only the BindingResponse in the URL.
		response, err := h.complete(r.Context(), s, o, "")
		if err != nil {
			h.refuse(w, r, err)
			return
		}
		v.Set(bindprotocol.ResponseParam, base64.StdEncoding.EncodeToString(response))
	}
	// One bind per login: the session ends here.
	h.Codec.ClearCookie(w, sessionCookie(s.SessionID))
	to.RawQuery = v.Encode()
	noCache(w)
	http.Redirect(w, r, to.String(), http.StatusSeeOther)
}

// complete binds offer o for session s: it onboards the consumer cluster
// (namespace, ServiceAccount, RBAC, ClusterBinding), records the bind
// (once per session, with the cluster key), and issues a kubeconfig. It
// returns the BindingResponse, or a *refusal.
func (h *Handler) complete(ctx context.Context, s session.Session, o offer, clusterKey string) ([]byte, error) {
	who := providername.Consumer{Issuer: s.Issuer, Subject: s.Subject, ClusterID: s.ClusterID}
	ns := providername.ClusterNamespace(who)
	exists, err := onboarding.CheckClusterKey(ctx, h.Writer, ns, clusterKey)
	if err != nil {
		return nil, bindRefusal(err)
	}
	if !exists {
		if err := h.checkNewClusters(ctx, who); err != nil {
			return nil, err
		}
	}
	res, err := onboarding.Ensure(ctx, h.Writer, who, h.ProviderPrettyName)
	if err != nil {
		return nil, err
	}
	if err := onboarding.RecordBind(ctx, h.Writer, res.Namespace, onboarding.Bind{SessionID: s.SessionID, ClusterKey: clusterKey, Name: s.Name, Groups: s.Groups, Until: s.Expires, Now: h.now()}); err != nil {
		return nil, bindRefusal(err)
	}
	kubeconfig, err := h.Credentials.Issue(ctx, res.Namespace)
	if err != nil {
		return nil, err
	}
	response, err := bindingResponse(s, o, kubeconfig)
	if err != nil {
		return nil, err
	}
	h.Log.Info("Bound", "service", o.Name, "namespace", res.Namespace, "subject", s.Subject, "cluster", s.ClusterID)
	return response, nil
}

// checkNewClusters refuses to onboard another new cluster of a user who
// onboarded NewClustersPerMinute of them within the last minute: each is a
// namespace, a ServiceAccount and grants on the provider.
func (h *Handler) checkNewClusters(ctx context.Context, who providername.Consumer) error {
	if h.NewClustersPerMinute <= 0 {
		return nil
	}
	list := &corev1.NamespaceList{}
	if err := h.Writer.List(ctx, list, client.MatchingLabels{consumer.SubjectLabel: onboarding.SubjectHash(who.Issuer, who.Subject)}); err != nil {
		return fmt.Errorf("listing the clusters of %s: %w", who.Subject, err)
	}
	recent := 0
	for _, n := range list.Items {
		if h.now().Sub(n.CreationTimestamp.Time) < time.Minute {
			recent++
		}
	}
	if recent >= h.NewClustersPerMinute {
		return &refusal{http.StatusTooManyRequests, "Too many new clusters", fmt.Sprintf("You bound %d new clusters within the last minute; this provider accepts %d a minute.", recent, h.NewClustersPerMinute), "Wait a minute and run kubectl bind again."}
	}
	return nil
}

// requestMeta is the metadata of a request in a BindingResponse. It is a
// superset of kube-bind's NameObjectMeta: Bindery's CLI keeps the
// annotation that names the template, kube-bind's ignores it.
type requestMeta struct {
	Name        string            `json:"name"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type request struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        requestMeta                                  `json:"metadata"`
	Spec            kubebindv1alpha1.APIServiceExportRequestSpec `json:"spec"`
}

// bindingResponse builds the BindingResponse for a bound offer: one
// request with all of the offer's resources.
func bindingResponse(s session.Session, o offer, kubeconfig []byte) ([]byte, error) {
	req := request{
		TypeMeta: metav1.TypeMeta{APIVersion: kubebindv1alpha1.SchemeGroupVersion.String(), Kind: "APIServiceExportRequest"},
		Metadata: requestMeta{Name: o.Name, Annotations: map[string]string{consumer.TemplateAnnotation: o.Name}},
	}
	if o.Source == catalog.SourceExportedCRD {
		req.Metadata.Annotations = nil
	}
	for _, res := range o.Spec.Resources {
		req.Spec.Resources = append(req.Spec.Resources, kubebindv1alpha1.APIServiceExportRequestResource{
			GroupResource: kubebindv1alpha1.GroupResource{Group: res.Group, Resource: res.Resource},
			Versions:      res.Versions,
		})
	}
	raw, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	return json.Marshal(&kubebindv1alpha1.BindingResponse{
		TypeMeta: metav1.TypeMeta{APIVersion: kubebindv1alpha1.SchemeGroupVersion.String(), Kind: "BindingResponse"},
		Authentication: kubebindv1alpha1.BindingResponseAuthentication{
			OAuth2CodeGrant: &kubebindv1alpha1.BindingResponseAuthenticationOAuth2CodeGrant{SessionID: s.SessionID, ID: s.Issuer + "/" + s.Subject},
		},
		Kubeconfig: kubeconfig,
		Requests:   []runtime.RawExtension{{Raw: raw}},
	})
}

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
