package bindflow_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/gorilla/mux"
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/access"
	"github.com/bindery-dev/bindery/backend/internal/auth/oidclogin"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/bindflow"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/credentials"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
	"github.com/bindery-dev/bindery/test/framework"
)

func TestMain(m *testing.M) { framework.Main(m) }

const keysNamespace = "bindery-system"

// env is a provider cluster with an offer, an OIDC provider, and the
// binding flow served at External through a front proxy whose replicas
// the test can stop, restart and multiply.
type env struct {
	t        *testing.T
	provider *framework.ControlPlane
	idp      *framework.OIDCProvider
	External string
	// publicCatalog is the backends' --public-catalog.
	publicCatalog bool
	// newClustersPerMinute is the backends' --max-new-clusters-per-minute.
	newClustersPerMinute int

	mu       sync.Mutex
	replicas []*replica
	next     atomic.Int64
}

type replica struct {
	url    *url.URL
	server *http.Server
	served atomic.Int64
}

// setup starts the env; opts change it before its first backend starts.
func setup(t *testing.T, opts ...func(*env)) *env {
	t.Helper()
	p := framework.StartControlPlane(t)
	ctx := t.Context()
	p.CreateCRD(t, "db.example.com", "databases", "Database", apiextensionsv1.NamespaceScoped, nil)
	p.CreateCRD(t, "cache.example.com", "caches", "Cache", apiextensionsv1.NamespaceScoped, map[string]string{catalog.ExportedLabel: "true"})
	require.NoError(t, p.Client.Create(ctx, &binderyv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "postgres"},
		Spec: binderyv1alpha1.APIServiceExportTemplateSpec{
			DisplayName: "PostgreSQL",
			Description: "Managed PostgreSQL databases with daily backups.",
			Resources:   []binderyv1alpha1.ExportedResource{{Group: "db.example.com", Resource: "databases"}},
			PermissionClaims: []binderyv1alpha1.PermissionClaim{{Resource: "secrets", Direction: binderyv1alpha1.ClaimProviderToConsumer,
				Selector: binderyv1alpha1.ClaimSelector{Reference: &binderyv1alpha1.ClaimReference{NamePath: "spec.writeConnectionSecretToRef.name"}}}},
		},
	}))
	require.NoError(t, p.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: keysNamespace}}))

	port := framework.FreePort(t)
	e := &env{t: t, provider: p, External: "http://localhost:" + strconv.Itoa(port), publicCatalog: true}
	e.idp = framework.StartOIDCProvider(t, framework.OIDCOptions{
		RedirectURIs: []string{e.External + "/callback"},
		Groups:       map[string][]string{"alice": {"developers"}, "bob": {"developers"}, "mallory": {"guests"}},
	})

	// The front proxy spreads requests over the replicas in turn, as a
	// load balancer does.
	front := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			rep := e.pick()
			rep.served.Add(1)
			r.SetURL(rep.url)
			r.Out.Host = r.In.Host
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Close() })
	for _, o := range opts {
		o(e)
	}
	e.start()
	return e
}

func (e *env) pick() *replica {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.replicas[int(e.next.Add(1))%len(e.replicas)]
}

// start starts a backend replica. Like bindery-backend, it reads its
// session keys from the keys Secret, creating them the first time.
func (e *env) start() *replica {
	t := e.t
	keys, err := session.LoadOrCreateKeys(context.Background(), e.provider.Client, keysNamespace, "bindery-backend-keys")
	require.NoError(t, err)
	codec, err := session.NewCodec(keys)
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(e.provider.Config)
	require.NoError(t, err)
	h := &bindflow.Handler{
		ExternalURL:        e.External,
		ProviderPrettyName: "Example Provider",
		Login: oidclogin.New(oidclogin.Config{
			IssuerURL: e.idp.IssuerURL, ClientID: e.idp.ClientID, ClientSecret: e.idp.ClientSecret,
			RedirectURL: e.External + "/callback", Scopes: []string{"profile", "email"},
		}),
		Codec:                codec,
		Client:               e.provider.Client,
		Writer:               e.provider.Client,
		Credentials:          &credentials.Issuer{Client: e.provider.Client, Kube: kube, Server: e.provider.Config.Host, CA: e.provider.Config.CAData, TTL: time.Hour},
		Allowed:              access.AllowList{Groups: []string{"developers"}},
		PublicCatalog:        e.publicCatalog,
		NewClustersPerMinute: e.newClustersPerMinute,
		Log:                  testr.New(t),
	}
	r := mux.NewRouter()
	h.Routes(r)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	rep := &replica{url: &url.URL{Scheme: "http", Host: ln.Addr().String()}, server: &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}}
	go rep.server.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = rep.server.Close() })
	e.mu.Lock()
	e.replicas = append(e.replicas, rep)
	e.mu.Unlock()
	return rep
}

// stop stops a replica and removes it from the front proxy.
func (e *env) stop(rep *replica) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = rep.server.Close()
	for i, r := range e.replicas {
		if r == rep {
			e.replicas = append(e.replicas[:i], e.replicas[i+1:]...)
			return
		}
	}
}

// cli is a stand-in for kubectl bind's loopback callback server: it
// records the query of each callback.
type cli struct {
	URL     string
	queries chan url.Values
}

func startCLI(t *testing.T) *cli {
	t.Helper()
	c := &cli{queries: make(chan url.Values, 4)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.queries <- r.URL.Query()
		_, _ = w.Write([]byte("done"))
	})}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { _ = srv.Close() })
	c.URL = "http://" + ln.Addr().String() + "/callback"
	return c
}

// browser is an HTTP client with cookies, like a browser.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// login runs /authorize and the login as user, and returns the response
// of the backend page it ends on.
func (e *env) login(t *testing.T, c *http.Client, query, user string) *http.Response {
	t.Helper()
	resp, err := c.Get(e.External + "/authorize?" + query)
	require.NoError(t, err)
	resp, err = e.idp.LoginAtOIDCProvider(c, resp, user)
	require.NoError(t, err)
	return resp
}

// bindForm returns the bind form for template on a selection page.
func bindForm(t *testing.T, resp *http.Response, template string) framework.Form {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body := framework.ReadBody(resp)
	forms, err := framework.Forms(body, resp.Request.URL)
	require.NoError(t, err)
	for _, f := range forms {
		if f.Values.Get("template") == template {
			return f
		}
	}
	t.Fatalf("no bind form for %q in:\n%s", template, body)
	return framework.Form{}
}

func decodeResponse(t *testing.T, raw string) *kubebindv1alpha1.BindingResponse {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(raw)
	require.NoError(t, err, "kube-bind's CLI decodes the response with standard base64")
	obj, gvk, err := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer().Decode(b, nil, nil)
	require.NoError(t, err)
	require.Equal(t, "BindingResponse", gvk.Kind)
	return obj.(*kubebindv1alpha1.BindingResponse)
}

func TestBindingFlow(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	c := e.provider.Client

	t.Run("/export is a kube-bind BindingProvider", func(t *testing.T) {
		resp, err := http.Get(e.External + "/export")
		require.NoError(t, err)
		provider := &kubebindv1alpha1.BindingProvider{}
		require.NoError(t, json.Unmarshal([]byte(framework.ReadBody(resp)), provider))
		assert.Equal(t, kubebindv1alpha1.GroupVersion, provider.APIVersion, "the value kube-bind's CLI checks")
		assert.Equal(t, "Example Provider", provider.ProviderPrettyName)
		assert.Equal(t, bindflow.ProtocolVersion, provider.Version)
		require.Len(t, provider.AuthenticationMethods, 1)
		assert.Equal(t, "OAuth2CodeGrant", provider.AuthenticationMethods[0].Method)
		assert.Equal(t, e.External+"/authorize", provider.AuthenticationMethods[0].OAuth2CodeGrant.AuthenticatedURL)
	})

	t.Run("/templates lists the services before login when the catalog is public", func(t *testing.T) {
		resp, err := http.Get(e.External + "/templates")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		l := &catalog.Listing{}
		require.NoError(t, json.Unmarshal([]byte(framework.ReadBody(resp)), l))
		assert.Equal(t, "Example Provider", l.ProviderPrettyName)
		var names []string
		for _, s := range l.Services {
			names = append(names, s.Name)
			if s.Name == "postgres" {
				assert.True(t, s.Ready)
				assert.NotEmpty(t, s.DisplayName)
				assert.NotEmpty(t, s.Resources)
			}
		}
		assert.Contains(t, names, "postgres")
	})

	var boundNamespace string
	var saUID string
	t.Run("login, choose and bind", func(t *testing.T) {
		cb := startCLI(t)
		b := browser(t)
		resp := e.login(t, b, url.Values{"u": {cb.URL}, "s": {"sess1"}, "c": {"cluster1"}}.Encode(), "alice")
		assert.Equal(t, "/resources", resp.Request.URL.Path)
		form := bindForm(t, resp, "postgres")

		resp, err := b.PostForm(form.Action, form.Values)
		require.NoError(t, err)
		assert.Equal(t, "done", framework.ReadBody(resp))
		br := decodeResponse(t, (<-cb.queries).Get("response"))
		require.NotNil(t, br.Authentication.OAuth2CodeGrant)
		assert.Equal(t, "sess1", br.Authentication.OAuth2CodeGrant.SessionID)
		assert.Equal(t, e.idp.IssuerURL+"/alice", br.Authentication.OAuth2CodeGrant.ID)
		require.Len(t, br.Requests, 1)
		req := &kubebindv1alpha1.APIServiceExportRequestResponse{}
		require.NoError(t, json.Unmarshal(br.Requests[0].Raw, req))
		assert.Equal(t, "kube-bind.io/v1alpha1", req.APIVersion)
		assert.Equal(t, "postgres", req.ObjectMeta.Name)
		assert.Equal(t, []kubebindv1alpha1.APIServiceExportRequestResource{{GroupResource: kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}}}, req.Spec.Resources)

		// The kubeconfig points at the consumer's own namespace and works
		// there, with an expiring token.
		kc, err := clientcmd.Load(br.Kubeconfig)
		require.NoError(t, err)
		boundNamespace = kc.Contexts[kc.CurrentContext].Namespace
		assert.Equal(t, providername.ClusterNamespace(providername.Consumer{Issuer: e.idp.IssuerURL, Subject: "alice", ClusterID: "cluster1"}), boundNamespace)
		token := kc.AuthInfos[kc.Contexts[kc.CurrentContext].AuthInfo].Token
		exp := tokenExpiry(t, token)
		assert.WithinDuration(t, time.Now().Add(time.Hour), exp, 5*time.Minute, "the token expires after --token-ttl")
		cfg, err := clientcmd.RESTConfigFromKubeConfig(br.Kubeconfig)
		require.NoError(t, err)
		consumerClient, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
		require.NoError(t, err)
		cb2 := &kubebindv1alpha1.ClusterBinding{}
		require.NoError(t, consumerClient.Get(ctx, client.ObjectKey{Namespace: boundNamespace, Name: consumer.ClusterBindingName}, cb2))
		assert.Equal(t, consumer.KubeconfigSecretName, cb2.Spec.KubeconfigSecretRef.Name)
		err = consumerClient.List(ctx, &corev1.SecretList{}, client.InNamespace(keysNamespace))
		assert.True(t, apierrors.IsForbidden(err), "the consumer cannot read the backend's keys: %v", err)

		// No legacy, non-expiring token Secret exists for the consumer.
		secrets := &corev1.SecretList{}
		require.NoError(t, c.List(ctx, secrets, client.InNamespace(boundNamespace)))
		for _, s := range secrets.Items {
			assert.NotEqual(t, corev1.SecretTypeServiceAccountToken, s.Type, "legacy token Secret %s", s.Name)
		}
		stored := &corev1.Secret{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: boundNamespace, Name: consumer.KubeconfigSecretName}, stored))
		assert.Equal(t, br.Kubeconfig, stored.Data[credentials.KubeconfigKey], "the ClusterBinding's Secret holds the same kubeconfig")
		sa := &corev1.ServiceAccount{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: boundNamespace, Name: consumer.ServiceAccountName}, sa))
		saUID = string(sa.UID)

		// The session ends with the bind.
		resp, err = b.PostForm(form.Action, form.Values)
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("binding again from the same cluster is idempotent", func(t *testing.T) {
		cb := startCLI(t)
		b := browser(t)
		resp := e.login(t, b, url.Values{"p": {strings.TrimSuffix(strings.TrimPrefix(cb.URL, "http://127.0.0.1:"), "/callback")}, "s": {"sess2"}, "c": {"cluster1"}}.Encode(), "alice")
		form := bindForm(t, resp, "postgres")
		resp, err := b.PostForm(form.Action, form.Values)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, framework.ReadBody(resp))
		br := decodeResponse(t, (<-cb.queries).Get("response"))
		kc, err := clientcmd.Load(br.Kubeconfig)
		require.NoError(t, err)
		assert.Equal(t, boundNamespace, kc.Contexts[kc.CurrentContext].Namespace)
		sa := &corev1.ServiceAccount{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: boundNamespace, Name: consumer.ServiceAccountName}, sa))
		assert.Equal(t, saUID, string(sa.UID), "same ServiceAccount")
	})

	t.Run("kube-bind's bind link asks to confirm and never binds on a GET", func(t *testing.T) {
		cb := startCLI(t)
		b := browser(t)
		resp := e.login(t, b, url.Values{"u": {cb.URL}, "s": {"sess3"}, "c": {"cluster3"}}.Encode(), "bob")
		framework.ReadBody(resp)
		resp, err := b.Get(e.External + "/bind?s=sess3&group=cache.example.com&resource=caches")
		require.NoError(t, err)
		body := framework.ReadBody(resp)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "/bind", resp.Request.URL.Path, "no redirect to the CLI")
		assert.Contains(t, body, "caches.cache.example.com")
		assert.Len(t, cb.queries, 0)
		forms, err := framework.Forms(body, resp.Request.URL)
		require.NoError(t, err)
		require.Len(t, forms, 1)
		resp, err = b.PostForm(forms[0].Action, forms[0].Values)
		require.NoError(t, err)
		framework.ReadBody(resp)
		br := decodeResponse(t, (<-cb.queries).Get("response"))
		req := &kubebindv1alpha1.APIServiceExportRequestResponse{}
		require.NoError(t, json.Unmarshal(br.Requests[0].Raw, req))
		assert.Equal(t, "caches", req.Spec.Resources[0].Resource)
	})

	// Upstream's example-backend, given a crafted link, redirected the
	// victim's BindingResponse to the link's URL right after login, and a
	// second crafted link needed no login or consent.
	t.Run("a crafted link cannot get a BindingResponse without the user's explicit choice", func(t *testing.T) {
		b := browser(t)
		steal := "http://127.0.0.1:9/steal"
		resp := e.login(t, b, url.Values{"u": {steal}, "s": {"crafted"}, "c": {"victim"}}.Encode(), "alice")
		body := framework.ReadBody(resp)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "/resources", resp.Request.URL.Path, "login ends on the selection page, not at the link's URL")
		assert.Contains(t, body, steal, "the page shows where the result would go")

		// Forms without the session's token, or from another site, fail.
		forged := url.Values{"s": {"crafted"}, "template": {"postgres"}}
		resp, err := b.PostForm(e.External+"/bind", forged)
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		forms, err := framework.Forms(body, resp.Request.URL)
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, e.External+"/bind", strings.NewReader(forms[0].Values.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://evil.example.com")
		resp, err = b.Do(req)
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, "cross-site POST")

		// A second crafted link in the same browser starts a new login.
		noFollow := *b
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err = noFollow.Get(e.External + "/authorize?" + url.Values{"u": {steal}, "s": {"crafted2"}, "c": {"victim"}}.Encode())
		require.NoError(t, err)
		assert.Equal(t, http.StatusFound, resp.StatusCode)
		assert.True(t, strings.HasPrefix(resp.Header.Get("Location"), e.idp.IssuerURL), "to the identity provider, not to %s", resp.Header.Get("Location"))
		resp, err = noFollow.Get(e.External + "/resources?s=crafted2")
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("a backend restart between authorize and callback loses nothing", func(t *testing.T) {
		cb := startCLI(t)
		b := browser(t)
		e.mu.Lock()
		old := append([]*replica(nil), e.replicas...)
		e.mu.Unlock()
		resp, err := b.Get(e.External + "/authorize?" + url.Values{"u": {cb.URL}, "s": {"restart"}, "c": {"cluster-r"}}.Encode())
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(resp.Request.URL.String(), e.idp.IssuerURL))
		// Replace the backend while the user is at the login page.
		e.start()
		for _, r := range old {
			e.stop(r)
		}
		resp, err = e.idp.LoginAtOIDCProvider(b, resp, "alice")
		require.NoError(t, err)
		form := bindForm(t, resp, "postgres")
		resp, err = b.PostForm(form.Action, form.Values)
		require.NoError(t, err)
		framework.ReadBody(resp)
		assert.Equal(t, "restart", decodeResponse(t, (<-cb.queries).Get("response")).Authentication.OAuth2CodeGrant.SessionID)
	})

	t.Run("two replicas sharing keys accept each other's sessions", func(t *testing.T) {
		e.start()
		e.mu.Lock()
		require.Len(t, e.replicas, 2)
		before := []int64{e.replicas[0].served.Load(), e.replicas[1].served.Load()}
		e.mu.Unlock()
		cb := startCLI(t)
		b := browser(t)
		resp := e.login(t, b, url.Values{"u": {cb.URL}, "s": {"replicas"}, "c": {"cluster-2r"}}.Encode(), "alice")
		form := bindForm(t, resp, "postgres")
		resp, err := b.PostForm(form.Action, form.Values)
		require.NoError(t, err)
		framework.ReadBody(resp)
		assert.Equal(t, "replicas", decodeResponse(t, (<-cb.queries).Get("response")).Authentication.OAuth2CodeGrant.SessionID)
		e.mu.Lock()
		defer e.mu.Unlock()
		for i, r := range e.replicas {
			assert.Greater(t, r.served.Load(), before[i], "replica %d served part of the flow", i)
		}
	})
}

// TestBadInput checks that every bad input gets a clear 4xx answer and
// that nothing is created on the cluster.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	noFollow := func(b *http.Client) *http.Client {
		c := *b
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &c
	}
	get := func(t *testing.T, b *http.Client, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, e.External+path, nil)
		require.NoError(t, err)
		resp, err := b.Do(req)
		require.NoError(t, err)
		return resp.StatusCode, framework.ReadBody(resp)
	}
	// callbackURL runs a login as user up to the identity provider's
	// redirect to /callback, and returns that redirect.
	callbackURL := func(t *testing.T, b *http.Client, sid, user string) *url.URL {
		t.Helper()
		resp, err := b.Get(e.External + "/authorize?" + url.Values{"p": {"5000"}, "s": {sid}, "c": {"c1"}}.Encode())
		require.NoError(t, err)
		var cbURL *url.URL
		stop := *b
		stop.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
			if r.URL.Path == "/callback" {
				cbURL = r.URL
				return http.ErrUseLastResponse
			}
			return nil
		}
		_, err = e.idp.LoginAtOIDCProvider(&stop, resp, user)
		require.NoError(t, err)
		require.NotNil(t, cbURL, "the identity provider did not redirect to /callback")
		return cbURL
	}

	tests := []struct {
		name       string
		path       string
		wantStatus int
		wantText   string
	}{
		{"selection page without a session", "/resources?s=nosuch", http.StatusUnauthorized, "Your session is unknown or has expired"},
		{"selection page without s", "/resources", http.StatusBadRequest, "This page needs a session"},
		{"bind link without a session", "/bind?s=nosuch&group=db.example.com&resource=databases", http.StatusUnauthorized, "Your session is unknown or has expired"},
		{"authorize without parameters", "/authorize", http.StatusBadRequest, "missing query parameter(s): s, c, u or p"},
		{"authorize to a remote host", "/authorize?u=http://evil.example.com/steal&s=a&c=b", http.StatusBadRequest, "must point to this computer"},
		{"authorize to https elsewhere", "/authorize?u=https://evil.example.com/&s=a&c=b", http.StatusBadRequest, "plain http:// URL"},
		{"callback without code", "/callback?state=x", http.StatusBadRequest, "lacks the code or the state"},
		{"callback with an error", "/callback?error=access_denied&error_description=user+said+no", http.StatusBadRequest, "user said no"},
		{"callback with a forged state", "/callback?code=x&state=eyJmb28iOiJiYXIifQ", http.StatusBadRequest, "not one this provider issued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, noFollow(browser(t)), tt.path)
			assert.Equal(t, tt.wantStatus, status)
			assert.Contains(t, body, tt.wantText)
		})
	}

	t.Run("POST bind without a session", func(t *testing.T) {
		resp, err := browser(t).PostForm(e.External+"/bind", url.Values{"s": {"nosuch"}, "template": {"postgres"}})
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("a bind form too large to be one", func(t *testing.T) {
		resp, err := browser(t).PostForm(e.External+"/bind", url.Values{"s": {"nosuch"}, "template": {strings.Repeat("x", 1<<20)}})
		require.NoError(t, err)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, framework.ReadBody(resp), "request body too large")
	})

	t.Run("errors are JSON for clients that ask", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, e.External+"/resources?s=nosuch", nil)
		require.NoError(t, err)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		var body map[string]string
		require.NoError(t, json.Unmarshal([]byte(framework.ReadBody(resp)), &body))
		assert.Equal(t, "Your session is unknown or has expired", body["error"])
		assert.NotEmpty(t, body["hint"])
	})

	t.Run("a tampered state", func(t *testing.T) {
		b := browser(t)
		cb := callbackURL(t, b, "tamper", "alice")
		q := cb.Query()
		state := []byte(q.Get("state"))
		state[len(state)/2] ^= 1
		q.Set("state", string(state))
		cb.RawQuery = q.Encode()
		status, body := get(t, noFollow(b), cb.RequestURI())
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, body, "not one this provider issued, or it was altered")
	})

	t.Run("a callback in another browser", func(t *testing.T) {
		cb := callbackURL(t, browser(t), "otherbrowser", "alice")
		status, body := get(t, noFollow(browser(t)), cb.RequestURI())
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, body, "No login in progress in this browser")
	})

	t.Run("a replayed code", func(t *testing.T) {
		b := browser(t)
		cb := callbackURL(t, b, "replay", "alice")
		u, _ := url.Parse(e.External)
		saved := b.Jar.Cookies(u)
		status, _ := get(t, noFollow(b), cb.RequestURI())
		require.Equal(t, http.StatusFound, status, "the first use works")
		// Put the login cookie back, so that only the identity provider's
		// single-use check can refuse the code.
		b.Jar.SetCookies(u, saved)
		status, body := get(t, noFollow(b), cb.RequestURI())
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, body, "refused the login code")
	})

	t.Run("a user outside the allowed groups", func(t *testing.T) {
		b := browser(t)
		cb := callbackURL(t, b, "mallory", "mallory")
		status, body := get(t, noFollow(b), cb.RequestURI())
		assert.Equal(t, http.StatusForbidden, status)
		assert.Contains(t, body, "You are not allowed to bind")
		status, _ = get(t, noFollow(b), "/resources?s=mallory")
		assert.Equal(t, http.StatusUnauthorized, status, "no session was opened")
	})

	t.Run("a template that does not exist", func(t *testing.T) {
		b := browser(t)
		resp := e.login(t, b, url.Values{"p": {"5000"}, "s": {"notempl"}, "c": {"c1"}}.Encode(), "alice")
		form := bindForm(t, resp, "postgres")
		form.Values.Set("template", "mysql")
		resp, err := noFollow(b).PostForm(form.Action, form.Values)
		require.NoError(t, err)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Contains(t, framework.ReadBody(resp), `offers nothing named &#34;mysql&#34;`)
	})

	t.Run("a dead identity provider", func(t *testing.T) {
		h := &bindflow.Handler{
			ExternalURL: e.External, ProviderPrettyName: "X", Log: testr.New(t),
			Login: oidclogin.New(oidclogin.Config{IssuerURL: "http://127.0.0.1:1", ClientID: "x", RedirectURL: e.External + "/callback"}),
		}
		keys, err := session.LoadOrCreateKeys(ctx, e.provider.Client, keysNamespace, "bindery-backend-keys")
		require.NoError(t, err)
		h.Codec, err = session.NewCodec(keys)
		require.NoError(t, err)
		r := mux.NewRouter()
		h.Routes(r)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/authorize?p=5000&s=a&c=b", nil))
		assert.Equal(t, http.StatusBadGateway, rec.Code)
		assert.Contains(t, rec.Body.String(), "The identity provider cannot be reached")
	})

	t.Run("nothing was created on the cluster", func(t *testing.T) {
		list := &corev1.NamespaceList{}
		require.NoError(t, e.provider.Client.List(ctx, list, client.MatchingLabels{consumer.RoleLabel: consumer.RoleCluster}))
		assert.Empty(t, list.Items)
	})
}

func tokenExpiry(t *testing.T, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWT")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims struct {
		Exp int64 `json:"exp"`
	}
	require.NoError(t, json.Unmarshal(payload, &claims))
	require.NotZero(t, claims.Exp, "the token has an expiry")
	return time.Unix(claims.Exp, 0)
}
