package bindflow_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
	"github.com/bindery-dev/bindery/apis/providername"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/test/framework"
)

// codeLogin is one login of Bindery's CLI: its verifier and the query it
// starts /authorize with.
type codeLogin struct {
	verifier string
	query    url.Values
}

func newCodeLogin(cb *cli, session, cluster string) codeLogin {
	v := bindprotocol.NewSecret()
	return codeLogin{verifier: v, query: url.Values{"u": {cb.URL}, "s": {session}, "c": {cluster}, bindprotocol.ChallengeParam: {bindprotocol.Challenge(v)}}}
}

// exchange posts body to /exchange and returns the status and body.
func (e *env) exchange(t *testing.T, body any) (int, []byte) {
	t.Helper()
	raw, ok := body.([]byte)
	if !ok {
		var err error
		raw, err = json.Marshal(body)
		require.NoError(t, err)
	}
	resp, err := http.Post(e.External+"/"+bindprotocol.ExchangePath, "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	return resp.StatusCode, []byte(framework.ReadBody(resp))
}

// bindForCode logs in as user with l, binds postgres, and returns the
// query the CLI's callback got.
func (e *env) bindForCode(t *testing.T, cb *cli, l codeLogin, user string) url.Values {
	t.Helper()
	b := browser(t)
	form := bindForm(t, e.login(t, b, l.query.Encode(), user), "postgres")
	resp, err := b.PostForm(form.Action, form.Values)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, framework.ReadBody(resp))
	return <-cb.queries
}

// TestCodeExchange is the flow of Bindery's CLI: the bind redirects with a
// one-time code, not a credential, and only the CLI that holds the
// verifier, on the cluster that first bound, redeems it, once.
func TestCodeExchange(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	clusterKey := bindprotocol.ClusterKey(bindprotocol.NewSecret(), e.External+"/authorize")

	var code string
	var login codeLogin
	var bound *kubebindv1alpha1.APIServiceExportRequest
	t.Run("the callback gets a code and no credential", func(t *testing.T) {
		cb := startCLI(t)
		login = newCodeLogin(cb, "code1", "cluster-c")
		q := e.bindForCode(t, cb, login, "alice")
		code = q.Get(bindprotocol.CodeParam)
		require.NotEmpty(t, code)
		assert.Empty(t, q.Get(bindprotocol.ResponseParam))
		assert.NotContains(t, code, "kubeconfig")
		list := &corev1.NamespaceList{}
		require.NoError(t, e.provider.Client.List(ctx, list, client.MatchingLabels{consumer.RoleLabel: consumer.RoleCluster}))
		assert.Empty(t, list.Items, "nothing is onboarded before the code is redeemed")
	})

	t.Run("a code without its verifier is refused", func(t *testing.T) {
		status, body := e.exchange(t, bindprotocol.ExchangeRequest{Code: code, Verifier: bindprotocol.NewSecret(), ClusterKey: clusterKey})
		assert.Equal(t, http.StatusBadRequest, status)
		assert.Contains(t, string(body), "This code belongs to another login")
	})

	t.Run("the CLI redeems the code for the BindingResponse", func(t *testing.T) {
		status, body := e.exchange(t, bindprotocol.ExchangeRequest{Code: code, Verifier: login.verifier, ClusterKey: clusterKey})
		require.Equal(t, http.StatusOK, status, string(body))
		br := &kubebindv1alpha1.BindingResponse{}
		require.NoError(t, json.Unmarshal(body, br))
		assert.Equal(t, "code1", br.Authentication.OAuth2CodeGrant.SessionID)
		kc, err := clientcmd.Load(br.Kubeconfig)
		require.NoError(t, err)
		ns := providername.ClusterNamespace(providername.Consumer{Issuer: e.idp.IssuerURL, Subject: "alice", ClusterID: "cluster-c"})
		assert.Equal(t, ns, kc.Contexts[kc.CurrentContext].Namespace)
		// What kubectl bind does next: the cluster now has a binding.
		bound = &kubebindv1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "postgres"},
			Spec: kubebindv1alpha1.APIServiceExportRequestSpec{Resources: []kubebindv1alpha1.APIServiceExportRequestResource{
				{GroupResource: kubebindv1alpha1.GroupResource{Group: "db.example.com", Resource: "databases"}},
			}},
		}
		require.NoError(t, e.provider.Client.Create(ctx, bound))
	})

	t.Run("a code redeems once", func(t *testing.T) {
		status, body := e.exchange(t, bindprotocol.ExchangeRequest{Code: code, Verifier: login.verifier, ClusterKey: clusterKey})
		assert.Equal(t, http.StatusConflict, status)
		assert.Contains(t, string(body), "This login has already bound")
	})

	t.Run("a replayed session binds once", func(t *testing.T) {
		cb := startCLI(t)
		l := newCodeLogin(cb, "replayed", "cluster-c")
		b := browser(t)
		form := bindForm(t, e.login(t, b, l.query.Encode(), "alice"), "postgres")
		u, _ := url.Parse(e.External)
		saved := b.Jar.Cookies(u)
		var codes []string
		for range 2 {
			resp, err := b.PostForm(form.Action, form.Values)
			require.NoError(t, err)
			framework.ReadBody(resp)
			codes = append(codes, (<-cb.queries).Get(bindprotocol.CodeParam))
			b.Jar.SetCookies(u, saved) // as an attacker who copied the cookie
		}
		status, body := e.exchange(t, bindprotocol.ExchangeRequest{Code: codes[0], Verifier: l.verifier, ClusterKey: clusterKey})
		require.Equal(t, http.StatusOK, status, string(body))
		status, body = e.exchange(t, bindprotocol.ExchangeRequest{Code: codes[1], Verifier: l.verifier, ClusterKey: clusterKey})
		assert.Equal(t, http.StatusConflict, status)
		assert.Contains(t, string(body), "This login has already bound")
	})

	t.Run("a crafted link cannot get a credential for a bound cluster", func(t *testing.T) {
		// The attacker's own listener, verifier and cluster key; the
		// victim's cluster ID; the victim logs in and chooses.
		steal := startCLI(t)
		l := newCodeLogin(steal, "crafted", "cluster-c")
		q := e.bindForCode(t, steal, l, "alice")
		status, body := e.exchange(t, bindprotocol.ExchangeRequest{Code: q.Get(bindprotocol.CodeParam), Verifier: l.verifier, ClusterKey: bindprotocol.ClusterKey(bindprotocol.NewSecret(), e.External+"/authorize")})
		assert.Equal(t, http.StatusForbidden, status)
		assert.Contains(t, string(body), "This request does not come from the cluster it names")

		// Nor with kube-bind's flow, which shows no key.
		b := browser(t)
		form := bindForm(t, e.login(t, b, url.Values{"u": {steal.URL}, "s": {"crafted-legacy"}, "c": {"cluster-c"}}.Encode(), "alice"), "postgres")
		resp, err := b.PostForm(form.Action, form.Values)
		require.NoError(t, err)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode)
		assert.Contains(t, framework.ReadBody(resp), "This cluster binds only with Bindery")
		assert.Len(t, steal.queries, 0, "nothing reached the link's listener")
	})

	t.Run("a cluster with nothing bound binds again with a new key", func(t *testing.T) {
		// As after kubectl bind uninstall, which deletes the cluster's key.
		require.NoError(t, e.provider.Client.Delete(ctx, bound))
		cb := startCLI(t)
		l := newCodeLogin(cb, "rekeyed", "cluster-c")
		q := e.bindForCode(t, cb, l, "alice")
		newKey := bindprotocol.ClusterKey(bindprotocol.NewSecret(), e.External+"/authorize")
		status, body := e.exchange(t, bindprotocol.ExchangeRequest{Code: q.Get(bindprotocol.CodeParam), Verifier: l.verifier, ClusterKey: newKey})
		require.Equal(t, http.StatusOK, status, string(body))
	})

	t.Run("kube-bind's flow still binds a cluster without a key", func(t *testing.T) {
		cb := startCLI(t)
		b := browser(t)
		form := bindForm(t, e.login(t, b, url.Values{"u": {cb.URL}, "s": {"legacy"}, "c": {"cluster-legacy"}}.Encode(), "alice"), "postgres")
		resp, err := b.PostForm(form.Action, form.Values)
		require.NoError(t, err)
		framework.ReadBody(resp)
		assert.NotEmpty(t, decodeResponse(t, (<-cb.queries).Get(bindprotocol.ResponseParam)).Kubeconfig)
	})

	t.Run("bad exchange requests", func(t *testing.T) {
		good := bindprotocol.ExchangeRequest{Code: code, Verifier: login.verifier, ClusterKey: clusterKey}
		tampered := good
		tampered.Code = strings.Replace(code, code[len(code)/2:len(code)/2+1], "A", 1)
		if tampered.Code == code {
			tampered.Code = strings.Replace(code, code[len(code)/2:len(code)/2+1], "B", 1)
		}
		tests := []struct {
			name       string
			body       any
			wantStatus int
			wantText   string
		}{
			{"not JSON", []byte("code=x"), http.StatusBadRequest, "must be a JSON ExchangeRequest"},
			{"unknown field", []byte(`{"code":"x","token":"y"}`), http.StatusBadRequest, "unknown field"},
			{"too large", []byte(`{"code":"` + strings.Repeat("x", bindprotocol.MaxExchangeBody) + `"}`), http.StatusBadRequest, "too large"},
			{"no verifier", bindprotocol.ExchangeRequest{Code: code, ClusterKey: clusterKey}, http.StatusBadRequest, "verifier must be"},
			{"no cluster key", bindprotocol.ExchangeRequest{Code: code, Verifier: login.verifier}, http.StatusBadRequest, "clusterKey must be"},
			{"a tampered code", tampered, http.StatusBadRequest, "not one this provider issued"},
			{"a state instead of a code", bindprotocol.ExchangeRequest{Code: "eyJmb28iOiJiYXIifQ", Verifier: login.verifier, ClusterKey: clusterKey}, http.StatusBadRequest, "not one this provider issued"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, body := e.exchange(t, tt.body)
				assert.Equal(t, tt.wantStatus, status)
				assert.Contains(t, string(body), tt.wantText)
			})
		}
	})

	t.Run("a malformed challenge is refused at /authorize", func(t *testing.T) {
		resp, err := browser(t).Get(e.External + "/authorize?" + url.Values{"u": {"http://127.0.0.1:5/cb"}, "s": {"a"}, "c": {"b"}, bindprotocol.ChallengeParam: {"plain-verifier"}}.Encode())
		require.NoError(t, err)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
		assert.Contains(t, framework.ReadBody(resp), "code challenge cc must be")
	})
}
