// Package issuer is a small OpenID Connect issuer for the demo and for
// local use (--oidc-issuer=embedded). It is a real issuer: a discovery
// document, a JWKS, RS256-signed ID tokens, the authorization code flow
// with PKCE and a login page, so the backend's login goes through the same
// go-oidc code as with any external issuer.
//
// It is for development only: its login page accepts any user name.
// Authorization codes are single-use within one process only.
package issuer

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/gorilla/mux"

	"github.com/bindery-dev/bindery/backend/internal/auth/session"
)

// Config configures the issuer.
type Config struct {
	// URL is the issuer URL, where Routes are served.
	URL          string
	ClientID     string
	ClientSecret string
	// RedirectURL is the one redirect URI the client may use.
	RedirectURL string
	// KeyPEM is the RSA signing key, PKCS#1 or PKCS#8 PEM.
	KeyPEM []byte
	// Codec seals authorization codes.
	Codec *session.Codec
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Issuer serves the OpenID Connect endpoints.
type Issuer struct {
	cfg    Config
	key    *rsa.PrivateKey
	kid    string
	signer jose.Signer

	mu   sync.Mutex
	used map[string]time.Time // redeemed codes, until they expire
}

// code is a sealed authorization code.
type code struct {
	ID        string    `json:"id"`
	Subject   string    `json:"sub"`
	Groups    []string  `json:"groups,omitempty"`
	Redirect  string    `json:"redirect"`
	Challenge string    `json:"challenge"`
	Nonce     string    `json:"nonce,omitempty"`
	Expires   time.Time `json:"exp"`
}

const codeName = "embedded-issuer-code"

// New returns an issuer for cfg.
func New(cfg Config) (*Issuer, error) {
	block, _ := pem.Decode(cfg.KeyPEM)
	if block == nil {
		return nil, fmt.Errorf("the embedded issuer's key is not PEM")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("the embedded issuer's key is %T, not RSA", k)
		}
		key = rk
	} else {
		return nil, fmt.Errorf("parsing the embedded issuer's key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("marshalling the embedded issuer's public key: %w", err)
	}
	sum := sha256.Sum256(der)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("creating the embedded issuer's signer: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Issuer{cfg: cfg, key: key, kid: kid, signer: signer, used: map[string]time.Time{}}, nil
}

// Routes adds the issuer's endpoints to r, which must be mounted at the
// issuer URL's path.
func (i *Issuer) Routes(r *mux.Router) {
	r.HandleFunc("/.well-known/openid-configuration", i.discovery).Methods(http.MethodGet)
	r.HandleFunc("/keys", i.keys).Methods(http.MethodGet)
	r.HandleFunc("/auth", i.authorize).Methods(http.MethodGet)
	r.HandleFunc("/auth", i.login).Methods(http.MethodPost)
	r.HandleFunc("/token", i.token).Methods(http.MethodPost)
}

func (i *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.cfg.URL,
		"authorization_endpoint":                i.cfg.URL + "/auth",
		"token_endpoint":                        i.cfg.URL + "/token",
		"jwks_uri":                              i.cfg.URL + "/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email", "groups"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nonce", "name", "groups"},
	})
}

func (i *Issuer) keys(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &i.key.PublicKey, KeyID: i.kid, Algorithm: string(jose.RS256), Use: "sig"}}})
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in (development issuer)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 2rem auto">
<main>
<h1>Sign in</h1>
<p role="note"><strong>Development identity provider.</strong> Bindery's embedded issuer accepts any user name. Do not use it in production.</p>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">{{end}}
<p><label for="username">User name</label><br><input id="username" name="username" autocomplete="username" required pattern="[A-Za-z0-9._@-]{1,64}"></p>
<p><label for="groups">Groups (optional, comma-separated)</label><br><input id="groups" name="groups"></p>
<p><button type="submit" id="submit">Sign in</button></p>
</form>
</main></body></html>`))

var validUser = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// authParams are the authorization request parameters the issuer checks.
var authParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}

// checkAuthRequest validates an authorization request. Errors before the
// redirect URI is known are shown to the user, never redirected.
func (i *Issuer) checkAuthRequest(q url.Values) error {
	switch {
	case q.Get("client_id") != i.cfg.ClientID:
		return fmt.Errorf("unknown client %q", q.Get("client_id"))
	case q.Get("redirect_uri") != i.cfg.RedirectURL:
		return fmt.Errorf("redirect_uri %q is not registered for this client", q.Get("redirect_uri"))
	case q.Get("response_type") != "code":
		return fmt.Errorf("response_type must be code")
	case !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		return fmt.Errorf("scope must include openid")
	case q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256":
		return fmt.Errorf("PKCE with code_challenge_method S256 is required")
	}
	return nil
}

func (i *Issuer) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := i.checkAuthRequest(q); err != nil {
		http.Error(w, "invalid authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	i.renderLogin(w, q, "", http.StatusOK)
}

func (i *Issuer) renderLogin(w http.ResponseWriter, q url.Values, msg string, status int) {
	params := map[string]string{}
	for _, k := range authParams {
		if v := q.Get(k); v != "" {
			params[k] = v
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, struct {
		Params map[string]string
		Error  string
	}{params, msg})
}

func (i *Issuer) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid form", http.StatusBadRequest)
		return
	}
	q := r.PostForm
	if err := i.checkAuthRequest(q); err != nil {
		http.Error(w, "invalid authorization request: "+err.Error(), http.StatusBadRequest)
		return
	}
	user := strings.TrimSpace(q.Get("username"))
	if !validUser.MatchString(user) {
		i.renderLogin(w, q, "Enter a user name of letters, digits and . _ @ -", http.StatusBadRequest)
		return
	}
	var groups []string
	for _, g := range strings.Split(q.Get("groups"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	sealed, err := i.cfg.Codec.Encode(codeName, code{
		ID: session.RandomString(16), Subject: user, Groups: groups, Redirect: q.Get("redirect_uri"),
		Challenge: q.Get("code_challenge"), Nonce: q.Get("nonce"), Expires: i.cfg.Now().Add(time.Minute),
	})
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	to, _ := url.Parse(q.Get("redirect_uri"))
	v := to.Query()
	v.Set("code", sealed)
	v.Set("state", q.Get("state"))
	to.RawQuery = v.Encode()
	http.Redirect(w, r, to.String(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request", "invalid form")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if subtle.ConstantTimeCompare([]byte(id), []byte(i.cfg.ClientID)) != 1 || subtle.ConstantTimeCompare([]byte(secret), []byte(i.cfg.ClientSecret)) != 1 {
		tokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		tokenError(w, http.StatusBadRequest, "unsupported_grant_type", "only authorization_code is supported")
		return
	}
	c := code{}
	if err := i.cfg.Codec.Decode(codeName, r.PostForm.Get("code"), &c); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_grant", "unknown code")
		return
	}
	now := i.cfg.Now()
	switch {
	case now.After(c.Expires):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code expired")
		return
	case r.PostForm.Get("redirect_uri") != c.Redirect:
		tokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	case !pkceMatches(r.PostForm.Get("code_verifier"), c.Challenge):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
		return
	case !i.redeem(c.ID, c.Expires, now):
		tokenError(w, http.StatusBadRequest, "invalid_grant", "code already used")
		return
	}
	claims := struct {
		jwt.Claims
		Nonce  string   `json:"nonce,omitempty"`
		Name   string   `json:"name"`
		Groups []string `json:"groups,omitempty"`
	}{
		Claims: jwt.Claims{
			Issuer: i.cfg.URL, Subject: c.Subject, Audience: jwt.Audience{i.cfg.ClientID},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Nonce: c.Nonce, Name: c.Subject, Groups: c.Groups,
	}
	idToken, err := jwt.Signed(i.signer).Claims(claims).Serialize()
	if err != nil {
		tokenError(w, http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": session.RandomString(32),
		"token_type":   "Bearer",
		"expires_in":   3600,
		"id_token":     idToken,
	})
}

// redeem marks a code used; false if it was used before.
func (i *Issuer) redeem(id string, expires, now time.Time) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	for k, exp := range i.used {
		if now.After(exp) {
			delete(i.used, k)
		}
	}
	if _, ok := i.used[id]; ok {
		return false
	}
	i.used[id] = expires
	return true
}

func pkceMatches(verifier, challenge string) bool {
	if verifier == "" {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
