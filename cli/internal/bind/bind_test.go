package bind

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/bindprotocol"
)

func providerDoc(authURL string) kubebindv1alpha1.BindingProvider {
	p := kubebindv1alpha1.BindingProvider{ProviderPrettyName: "Acme", Version: "v0.4.6"}
	p.APIVersion, p.Kind = "v1alpha1", "BindingProvider"
	p.AuthenticationMethods = []kubebindv1alpha1.AuthenticationMethod{{Method: "OAuth2CodeGrant", OAuth2CodeGrant: &kubebindv1alpha1.OAuth2CodeGrant{AuthenticatedURL: authURL}}}
	return p
}

func TestFetchProvider(t *testing.T) {
	good := providerDoc("https://example.com/authorize")
	noLogin := good
	noLogin.AuthenticationMethods = nil
	wrongVersion := good
	wrongVersion.APIVersion = "v2"
	tests := []struct {
		name    string
		status  int
		body    any
		wantErr string
	}{
		{"a Bindery or kube-bind provider", 200, good, ""},
		{"a page that is not a provider", 200, map[string]string{"hello": "world"}, "is not a Bindery or kube-bind provider"},
		{"an HTML page", 200, "<html>", "is not a Bindery or kube-bind provider"},
		{"an error status", 404, nil, "answered 404"},
		{"a provider without browser login", 200, noLogin, "no browser login"},
		{"another protocol version", 200, wrongVersion, `speaks "v2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				if s, ok := tt.body.(string); ok {
					_, _ = w.Write([]byte(s))
				} else if tt.body != nil {
					_ = json.NewEncoder(w).Encode(tt.body)
				}
			}))
			defer srv.Close()
			p, err := FetchProvider(t.Context(), srv.Client(), srv.URL+"/export", FetchOptions{})
			if tt.wantErr == "" {
				require.NoError(t, err)
				assert.Equal(t, "Acme", p.ProviderPrettyName)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Contains(t, err.Error(), "hint:", "every error says what to do")
		})
	}
	t.Run("a bare address means its /export", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/export" {
				http.NotFound(w, r)
				return
			}
			_ = json.NewEncoder(w).Encode(good)
		}))
		defer srv.Close()
		for _, u := range []string{srv.URL, srv.URL + "/"} {
			p, err := FetchProvider(t.Context(), srv.Client(), u, FetchOptions{})
			require.NoError(t, err, u)
			assert.Equal(t, "Acme", p.ProviderPrettyName)
		}
	})
	t.Run("an unreachable URL", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		_, err := FetchProvider(t.Context(), http.DefaultClient, u, FetchOptions{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot reach the provider")
	})
	t.Run("plain http outside this machine is refused unless asked for", func(t *testing.T) {
		_, err := FetchProvider(t.Context(), http.DefaultClient, "http://bindery.example.com/export", FetchOptions{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "plain http outside this machine")
		assert.Contains(t, err.Error(), "--insecure-http")
		_, err = FetchProvider(t.Context(), &http.Client{Transport: refuseAll{}}, "http://bindery.example.com/export", FetchOptions{InsecureHTTP: true})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "cannot reach the provider", "with the flag the request is made")
	})
	t.Run("a login URL on plain http outside this machine is refused", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_ = json.NewEncoder(w).Encode(providerDoc("http://login.example.com/authorize"))
		}))
		defer srv.Close()
		_, err := FetchProvider(t.Context(), srv.Client(), srv.URL, FetchOptions{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "http://login.example.com/authorize is plain http outside this machine")
	})
	t.Run("not a URL", func(t *testing.T) {
		_, err := FetchProvider(t.Context(), http.DefaultClient, "bindery.example.com", FetchOptions{})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "is not an http(s) URL")
	})
}

func response(t *testing.T, sid string) string {
	t.Helper()
	raw, err := json.Marshal(kubebindv1alpha1.BindingResponse{
		Authentication: kubebindv1alpha1.BindingResponseAuthentication{OAuth2CodeGrant: &kubebindv1alpha1.BindingResponseAuthenticationOAuth2CodeGrant{SessionID: sid}},
		Kubeconfig:     []byte("kubeconfig"),
		Requests:       []runtime.RawExtension{{Raw: []byte(`{"metadata":{"name":"x"}}`)}},
	})
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(raw)
}

// fakeBrowser plays the provider's login: it follows the authorize URL's
// redirect parameter back to the CLI, with a response for session sid
// (the one asked for, unless overridden) at path (the one asked for,
// unless overridden).
func fakeBrowser(t *testing.T, sid, path string) func(string) error {
	return func(authorize string) error {
		u, err := url.Parse(authorize)
		require.NoError(t, err)
		q := u.Query()
		back, err := url.Parse(q.Get("u"))
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", back.Hostname(), "the callback is on loopback")
		assert.NotEmpty(t, q.Get("c"))
		if sid == "" {
			sid = q.Get("s")
		}
		if path != "" {
			back.Path = path
		}
		v := back.Query()
		v.Set("response", response(t, sid))
		back.RawQuery = v.Encode()
		go func() {
			resp, err := http.Get(back.String())
			if err == nil {
				_ = resp.Body.Close()
			}
		}()
		return nil
	}
}

func TestLogin(t *testing.T) {
	t.Setenv("DISPLAY", ":0")
	p := providerDoc("https://example.com/authorize")
	t.Run("the provider's answer for this session is accepted", func(t *testing.T) {
		resp, err := Login(t.Context(), &p, LoginOptions{ClusterID: "c1", Timeout: 10 * time.Second, Out: &bytes.Buffer{}, Open: fakeBrowser(t, "", "")})
		require.NoError(t, err)
		assert.Equal(t, []byte("kubeconfig"), resp.Kubeconfig)
	})
	t.Run("an answer for another session is refused", func(t *testing.T) {
		_, err := Login(t.Context(), &p, LoginOptions{ClusterID: "c1", Timeout: 10 * time.Second, Out: &bytes.Buffer{}, Open: fakeBrowser(t, "someone-else", "")})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "another login session")
	})
	t.Run("a callback without the path secret is ignored, and the login times out", func(t *testing.T) {
		_, err := Login(t.Context(), &p, LoginOptions{ClusterID: "c1", Timeout: 2 * time.Second, Out: &bytes.Buffer{}, Open: fakeBrowser(t, "", "/callback/guess")})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "no login within 2s")
	})
	t.Run("without a browser, the URL is printed", func(t *testing.T) {
		out := &bytes.Buffer{}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := Login(ctx, &p, LoginOptions{ClusterID: "c1", NoBrowser: true, Timeout: time.Minute, Out: out})
		require.Error(t, err)
		assert.Contains(t, out.String(), "https://example.com/authorize?c=c1&cc=")
		assert.Contains(t, err.Error(), "interrupted", "a closed browser or Ctrl-C ends the wait with a clear error")
	})
}

// codeProvider plays a Bindery provider's side of the code exchange: its
// browser follows the authorize URL back to the CLI with a one-time code,
// and its /exchange answers with status, or, when status is 200, with the
// BindingResponse if the verifier matches the login's challenge and the
// cluster key is key.
func codeProvider(t *testing.T, status int, key string) (kubebindv1alpha1.BindingProvider, func(string) error) {
	var challenge, sid string
	var mu sync.Mutex
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("POST /exchange", func(w http.ResponseWriter, r *http.Request) {
		req := bindprotocol.ExchangeRequest{}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		mu.Lock()
		defer mu.Unlock()
		switch {
		case status != http.StatusOK:
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":"This login has already bound","detail":"Each login binds once.","hint":"Run kubectl bind again to bind more."}`))
		case req.Code != "one-time" || bindprotocol.Challenge(req.Verifier) != challenge || req.ClusterKey != key:
			w.WriteHeader(http.StatusBadRequest)
		default:
			raw, _ := base64.StdEncoding.DecodeString(response(t, sid))
			_, _ = w.Write(raw)
		}
	})
	open := func(authorize string) error {
		u, err := url.Parse(authorize)
		require.NoError(t, err)
		q := u.Query()
		mu.Lock()
		challenge, sid = q.Get(bindprotocol.ChallengeParam), q.Get("s")
		mu.Unlock()
		back, err := url.Parse(q.Get("u"))
		require.NoError(t, err)
		back.RawQuery = url.Values{bindprotocol.CodeParam: {"one-time"}}.Encode()
		go func() {
			if resp, err := http.Get(back.String()); err == nil {
				_ = resp.Body.Close()
			}
		}()
		return nil
	}
	return providerDoc(srv.URL + "/authorize"), open
}

func TestLoginRedeemsACode(t *testing.T) {
	t.Setenv("DISPLAY", ":0")
	key := bindprotocol.ClusterKey(bindprotocol.NewSecret(), "https://example.com/authorize")
	t.Run("the code is redeemed with the verifier and the cluster key", func(t *testing.T) {
		p, open := codeProvider(t, http.StatusOK, key)
		resp, err := Login(t.Context(), &p, LoginOptions{ClusterID: "c1", ClusterKey: key, Timeout: 10 * time.Second, Out: &bytes.Buffer{}, Open: open})
		require.NoError(t, err)
		assert.Equal(t, []byte("kubeconfig"), resp.Kubeconfig)
	})
	t.Run("the provider's refusal is shown", func(t *testing.T) {
		p, open := codeProvider(t, http.StatusConflict, key)
		_, err := Login(t.Context(), &p, LoginOptions{ClusterID: "c1", ClusterKey: key, Timeout: 10 * time.Second, Out: &bytes.Buffer{}, Open: open})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the provider refused the bind: This login has already bound. Each login binds once.")
	})
}

func TestDecodeResponse(t *testing.T) {
	for name, tc := range map[string]struct {
		raw, want string
	}{
		"empty":         {"", "no response"},
		"not base64":    {"%%%", "not base64"},
		"not JSON":      {base64.StdEncoding.EncodeToString([]byte("{")), "not a BindingResponse"},
		"other session": {response(t, "other"), "another login session"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decodeResponse(tc.raw, "mine")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestSecretName(t *testing.T) {
	a := SecretName("https://p.example.com", "ns-1")
	assert.Equal(t, a, SecretName("https://p.example.com", "ns-1"), "the same provider reuses its Secret")
	assert.NotEqual(t, a, SecretName("https://p.example.com", "ns-2"))
	assert.True(t, strings.HasPrefix(a, "kubeconfig-"))
}

func TestFetchCatalog(t *testing.T) {
	for name, tc := range map[string]struct {
		status  int
		wantErr string
	}{
		"a public catalog":                 {200, ""},
		"a catalog shown after login only": {404, "only after login"},
	} {
		t.Run(name, func(t *testing.T) {
			mux := http.NewServeMux()
			srv := httptest.NewServer(mux)
			defer srv.Close()
			mux.HandleFunc("/export", func(w http.ResponseWriter, _ *http.Request) {
				_ = json.NewEncoder(w).Encode(providerDoc(srv.URL + "/authorize"))
			})
			mux.HandleFunc("/templates", func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"providerPrettyName":"Acme","services":[{"name":"postgres","displayName":"PostgreSQL","resources":["databases.db.example.com"],"ready":true}]}`))
			})
			l, err := FetchCatalog(t.Context(), srv.Client(), srv.URL+"/export", FetchOptions{})
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Contains(t, err.Error(), "kubectl bind "+srv.URL+"/export", "the hint says how to see them")
				return
			}
			require.NoError(t, err)
			require.Len(t, l.Services, 1)
			assert.Equal(t, "PostgreSQL", l.Services[0].DisplayName)
		})
	}
}

func TestLeftovers(t *testing.T) {
	var none *Result
	assert.Empty(t, none.Leftovers(), "nothing created, nothing to say")
	assert.Empty(t, (&Result{}).Leftovers())
	r := &Result{Namespace: "kube-bind", Secret: "kubeconfig-abc", Requests: []string{"postgres"}, Bindings: []string{"databases.db.example.com"}}
	s := r.Leftovers()
	assert.Contains(t, s, "kubectl bind unbind databases.db.example.com --yes")
	assert.Contains(t, s, "kubectl delete secret -n kube-bind kubeconfig-abc")
	assert.Contains(t, s, "APIServiceExportRequest postgres on the provider")
}

// refuseAll is a transport that sends nothing anywhere.
type refuseAll struct{}

func (refuseAll) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused by the test")}
}

// FuzzDecodeResponse feeds arbitrary callback values: decoding never
// panics, and what it accepts is for this login and complete.
func FuzzDecodeResponse(f *testing.F) {
	f.Add("")
	f.Add("%%%")
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"authentication":{"oauth2CodeGrant":{"sid":"mine"}},"kubeconfig":"eA==","requests":[{}]}`)))
	f.Fuzz(func(t *testing.T, raw string) {
		resp, err := decodeResponse(raw, "mine")
		if err != nil {
			return
		}
		if resp.Authentication.OAuth2CodeGrant == nil || resp.Authentication.OAuth2CodeGrant.SessionID != "mine" || len(resp.Kubeconfig) == 0 || len(resp.Requests) == 0 {
			t.Fatalf("accepted %+v", resp)
		}
	})
}

func TestPlanBinding(t *testing.T) {
	const export = "databases.db.example.com"
	binding := func(name, secret string, annotations map[string]string) unstructured.Unstructured {
		b := unstructured.Unstructured{Object: map[string]any{
			"metadata": map[string]any{"name": name},
			"spec":     map[string]any{"kubeconfigSecretRef": map[string]any{"namespace": Namespace, "name": secret, "key": "kubeconfig"}},
		}}
		b.SetAnnotations(annotations)
		return b
	}
	limited := func(ns string) map[string]string {
		return map[string]string{binderyv1alpha1.BindingNamespacesAnnotation: ns}
	}
	for _, tt := range []struct {
		name       string
		existing   []unstructured.Unstructured
		namespaces []string
		want, err  string
	}{
		{name: "nothing bound: the export's name", want: export},
		{name: "bound from here: the same binding", existing: []unstructured.Unstructured{binding(export, "mine", nil)}, want: export},
		{name: "bound elsewhere, for every namespace", existing: []unstructured.Unstructured{binding(export, "theirs", nil)}, namespaces: []string{"a"},
			err: "already bound from another provider for every namespace"},
		{name: "bound elsewhere, here for every namespace", existing: []unstructured.Unstructured{binding(export, "theirs", limited("a"))},
			err: "would re-point it"},
		{name: "bound elsewhere for other namespaces", existing: []unstructured.Unstructured{binding(export, "theirs", limited("a"))}, namespaces: []string{"b", "c"},
			want: export + "-b-c"},
		{name: "a namespace bound elsewhere", existing: []unstructured.Unstructured{binding(export, "theirs", limited("a,b"))}, namespaces: []string{"b"},
			err: "namespace(s) b already get " + export},
		{name: "a namespace still served elsewhere", namespaces: []string{"b"}, err: "namespace(s) b already get " + export,
			existing: []unstructured.Unstructured{binding(export, "theirs", map[string]string{
				binderyv1alpha1.BindingNamespacesAnnotation: "a", binderyv1alpha1.ServingNamespacesAnnotation: "a,b"})}},
		{name: "the second binding from here is reused", namespaces: []string{"d"}, want: export + "-b",
			existing: []unstructured.Unstructured{binding(export, "theirs", limited("a")), binding(export+"-b", "mine", map[string]string{
				binderyv1alpha1.BindingNamespacesAnnotation: "b", binderyv1alpha1.ExportAnnotation: export})}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := planBinding(tt.existing, export, Namespace, "mine", "provider.example.com", tt.namespaces)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}
