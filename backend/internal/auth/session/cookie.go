package session

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/securecookie"
)

// Login is what the backend remembers between /authorize and /callback,
// in an encrypted cookie of the browser that started the login. The
// OAuth2 state names the login's ID, so a callback is accepted only in the
// browser that began it.
type Login struct {
	ID        string `json:"id"`
	Redirect  string `json:"redirect"`
	SessionID string `json:"sid"`
	ClusterID string `json:"cid"`
	Verifier  string `json:"pkce"`
	Nonce     string `json:"nonce"`
	// Challenge is the CLI's S256 challenge (bindprotocol); empty for
	// kube-bind's CLI.
	Challenge string    `json:"cc,omitempty"`
	Expires   time.Time `json:"exp"`
}

// State is the OAuth2 state parameter: it binds the callback to the login
// cookie, and is itself signed and encrypted so it cannot be forged.
type State struct {
	LoginID   string    `json:"lid"`
	SessionID string    `json:"sid"`
	Expires   time.Time `json:"exp"`
}

// Session is an authenticated user choosing what to bind, for one CLI
// session and one consumer cluster.
type Session struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Name      string   `json:"name,omitempty"`
	Groups    []string `json:"groups,omitempty"`
	SessionID string   `json:"sid"`
	ClusterID string   `json:"cid"`
	Redirect  string   `json:"redirect"`
	// Challenge is the CLI's S256 challenge (bindprotocol): the bind then
	// answers with a one-time code only the CLI can redeem.
	Challenge string    `json:"cc,omitempty"`
	CSRF      string    `json:"csrf"`
	Expires   time.Time `json:"exp"`
}

// Errors of Decode, so that pages can explain them.
var (
	ErrMissing  = errors.New("no login in progress in this browser")
	ErrInvalid  = errors.New("the value is not one this provider issued, or it was altered")
	ErrExpired  = errors.New("the login expired")
	ErrMismatch = errors.New("the value belongs to another login")
)

// Codec signs, encrypts and decodes values with Keys.
type Codec struct {
	current, previous *securecookie.SecureCookie
	previousUntil     time.Time
	// Secure sets the Secure flag on cookies. It is on unless the backend
	// is served over plain HTTP on a non-loopback address for testing.
	Secure bool
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// NewCodec returns a codec for keys, which must be valid.
func NewCodec(k Keys) (*Codec, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	c := &Codec{current: secureCookie(k), Secure: true}
	if k.Previous != nil {
		if err := k.Previous.Validate(); err != nil {
			return nil, fmt.Errorf("the previous keys: %w", err)
		}
		c.previous, c.previousUntil = secureCookie(*k.Previous), k.PreviousUntil
	}
	return c, nil
}

func secureCookie(k Keys) *securecookie.SecureCookie {
	sc := securecookie.New(k.Signing, k.Encryption)
	sc.SetSerializer(securecookie.JSONEncoder{})
	sc.MaxAge(int((24 * time.Hour).Seconds()))
	sc.MaxLength(16 * 1024)
	return sc
}

// Encode signs and encrypts v under name, with the current keys.
func (c *Codec) Encode(name string, v any) (string, error) {
	s, err := c.current.Encode(name, v)
	if err != nil {
		return "", fmt.Errorf("encoding %s: %w", name, err)
	}
	return s, nil
}

// Decode verifies and decrypts value into v; a value made for another
// name does not decode. A value made with the previous keys decodes until
// they expire.
func (c *Codec) Decode(name, value string, v any) error {
	if value == "" {
		return ErrMissing
	}
	err := c.current.Decode(name, value, v)
	if err != nil && c.previous != nil && c.now().Before(c.previousUntil) {
		if c.previous.Decode(name, value, v) == nil {
			return nil
		}
	}
	if err != nil {
		var scErr securecookie.Error
		if errors.As(err, &scErr) && scErr.IsDecode() {
			return ErrInvalid
		}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

func (c *Codec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// hostPrefix makes browsers keep a cookie only if it is Secure, has Path=/
// and no Domain, so that no other host (a sibling subdomain) can set or
// overwrite it.
const hostPrefix = "__Host-"

// CookieName is the name of the cookie SetCookie sets for name.
func CookieName(name string) string { return hostPrefix + name }

// SetCookie sets an HttpOnly cookie with value v, valid for ttl.
func (c *Codec) SetCookie(w http.ResponseWriter, name string, v any, ttl time.Duration) error {
	value, err := c.Encode(name, v)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName(name),
		Value:    value,
		Path:     "/",
		MaxAge:   int(ttl.Seconds()),
		HttpOnly: true,
		Secure:   c.Secure,
		// Lax: the cookie must come along on the top-level redirect
		// back from the identity provider, but not on cross-site POSTs.
		SameSite: http.SameSiteLaxMode,
	})
	return nil
}

// ReadCookie decodes the cookie name of r into v.
func (c *Codec) ReadCookie(r *http.Request, name string, v any) error {
	ck, err := r.Cookie(CookieName(name))
	if err != nil {
		return ErrMissing
	}
	return c.Decode(name, ck.Value, v)
}

// ClearCookie removes the cookie name.
func (c *Codec) ClearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: CookieName(name), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode})
}
