package issuer_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/bindery-dev/bindery/backend/internal/auth/issuer"
	"github.com/bindery-dev/bindery/backend/internal/auth/oidclogin"
	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/test/framework"
)

// The embedded issuer is a real OIDC issuer: go-oidc, the code path used
// with any external issuer, discovers it and verifies its tokens.
func TestEmbeddedIssuer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	codec, err := session.NewCodec(session.Keys{Signing: make([]byte, 64), Encryption: make([]byte, 32)})
	require.NoError(t, err)

	r := mux.NewRouter()
	srv := httptest.NewServer(r)
	defer srv.Close()
	redirect := srv.URL + "/callback"
	iss, err := issuer.New(issuer.Config{URL: srv.URL + "/oidc", ClientID: "bindery", ClientSecret: "s3cret", RedirectURL: redirect, KeyPEM: keyPEM, Codec: codec})
	require.NoError(t, err)
	iss.Routes(r.PathPrefix("/oidc").Subrouter())
	r.HandleFunc("/callback", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("callback")) })

	login := oidclogin.New(oidclogin.Config{IssuerURL: srv.URL + "/oidc", ClientID: "bindery", ClientSecret: "s3cret", RedirectURL: redirect, Scopes: []string{"profile"}})
	ctx := t.Context()

	// signIn runs the login page as user and returns the code.
	signIn := func(t *testing.T, verifier, nonce, user, groups string) string {
		t.Helper()
		authURL, err := login.AuthCodeURL(ctx, "the-state", verifier, nonce)
		require.NoError(t, err)
		resp, err := http.Get(authURL)
		require.NoError(t, err)
		body := framework.ReadBody(resp)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		assert.Contains(t, body, "Development identity provider")
		forms, err := framework.Forms(body, resp.Request.URL)
		require.NoError(t, err)
		require.Len(t, forms, 1)
		forms[0].Values.Set("username", user)
		forms[0].Values.Set("groups", groups)
		resp, err = http.PostForm(forms[0].Action, forms[0].Values)
		require.NoError(t, err)
		framework.ReadBody(resp)
		require.Equal(t, "/callback", resp.Request.URL.Path)
		assert.Equal(t, "the-state", resp.Request.URL.Query().Get("state"))
		return resp.Request.URL.Query().Get("code")
	}

	t.Run("a login yields a verified identity", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := signIn(t, v, "n1", "alice", "dev, ops")
		id, err := login.Exchange(ctx, code, v, "n1")
		require.NoError(t, err)
		assert.Equal(t, srv.URL+"/oidc", id.Issuer)
		assert.Equal(t, "alice", id.Subject)
		assert.Equal(t, []string{"dev", "ops"}, id.Groups)

		_, err = login.Exchange(ctx, code, v, "n1")
		assert.ErrorContains(t, err, "refused the login code", "a code is single-use")
	})

	t.Run("a wrong PKCE verifier is refused", func(t *testing.T) {
		code := signIn(t, oauth2.GenerateVerifier(), "n2", "alice", "")
		_, err := login.Exchange(ctx, code, oauth2.GenerateVerifier(), "n2")
		assert.ErrorContains(t, err, "refused the login code")
	})

	t.Run("a nonce of another login is refused", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := signIn(t, v, "n3", "alice", "")
		_, err := login.Exchange(ctx, code, v, "other")
		assert.ErrorContains(t, err, "nonce does not match")
	})

	t.Run("a forged code is refused", func(t *testing.T) {
		_, err := login.Exchange(ctx, "forged", oauth2.GenerateVerifier(), "n")
		assert.ErrorContains(t, err, "refused the login code")
	})

	t.Run("tokens signed by another key are refused", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		require.NoError(t, err)
		r2 := mux.NewRouter()
		srv2 := httptest.NewServer(r2)
		defer srv2.Close()
		// An impostor serving the same issuer URL's tokens with its own
		// key: its discovery names srv's issuer, so go-oidc rejects it.
		impostor, err := issuer.New(issuer.Config{URL: srv.URL + "/oidc", ClientID: "bindery", ClientSecret: "s3cret", RedirectURL: redirect,
			KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}), Codec: codec})
		require.NoError(t, err)
		impostor.Routes(r2.PathPrefix("/oidc").Subrouter())
		l2 := oidclogin.New(oidclogin.Config{IssuerURL: srv2.URL + "/oidc", ClientID: "bindery", ClientSecret: "s3cret", RedirectURL: redirect})
		_, err = l2.AuthCodeURL(ctx, "s", oauth2.GenerateVerifier(), "n")
		assert.ErrorContains(t, err, "did not match the issuer", "discovery checks the issuer")
	})

	badRequests := []struct {
		name  string
		query url.Values
		want  string
	}{
		{"unknown client", url.Values{"client_id": {"x"}}, "unknown client"},
		{"unregistered redirect", url.Values{"redirect_uri": {"http://evil.example.com/cb"}}, "is not registered"},
		{"no PKCE", url.Values{"code_challenge": {""}}, "PKCE"},
		{"no openid scope", url.Values{"scope": {"profile"}}, "openid"},
	}
	for _, tt := range badRequests {
		t.Run("authorization request with "+tt.name, func(t *testing.T) {
			q := url.Values{"client_id": {"bindery"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
				"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
			for k, v := range tt.query {
				q[k] = v
			}
			resp, err := http.Get(srv.URL + "/oidc/auth?" + q.Encode())
			require.NoError(t, err)
			assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
			assert.Contains(t, framework.ReadBody(resp), tt.want)
		})
	}

	t.Run("the token endpoint checks the client secret", func(t *testing.T) {
		resp, err := http.PostForm(srv.URL+"/oidc/token", url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"bindery"}, "client_secret": {"wrong"}})
		require.NoError(t, err)
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		assert.Contains(t, framework.ReadBody(resp), "invalid_client")
	})
}
