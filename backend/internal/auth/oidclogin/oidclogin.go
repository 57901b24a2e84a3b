// Package oidclogin is the relying-party side of the browser login: the
// OAuth2 authorization code flow with PKCE (S256) and a nonce, and a
// verified ID token (signature, issuer, audience, expiry and nonce), on
// github.com/coreos/go-oidc.
package oidclogin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config configures the client.
type Config struct {
	IssuerURL    string
	ClientID     string
	ClientSecret string
	// RedirectURL is the backend's /callback.
	RedirectURL string
	// Scopes besides openid.
	Scopes []string
	// GroupsClaim names the ID token claim with the user's groups.
	GroupsClaim string
	// HTTPClient talks to the issuer; http.DefaultClient when nil.
	HTTPClient *http.Client
}

// Identity is a verified user.
type Identity struct {
	Issuer  string
	Subject string
	Name    string
	Groups  []string
}

// ErrUnreachable wraps failures to reach the issuer.
var ErrUnreachable = errors.New("the identity provider cannot be reached")

// Client runs logins against one issuer. It discovers the issuer on first
// use and retries discovery until it succeeds, so the backend starts even
// while the issuer is down.
type Client struct {
	cfg Config

	mu       sync.Mutex
	provider *oidc.Provider
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	return &Client{cfg: cfg}
}

func (c *Client) ctx(ctx context.Context) context.Context {
	if c.cfg.HTTPClient != nil {
		return oidc.ClientContext(ctx, c.cfg.HTTPClient)
	}
	return ctx
}

func (c *Client) discover(ctx context.Context) (*oidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	p, err := oidc.NewProvider(c.ctx(ctx), c.cfg.IssuerURL)
	if err != nil {
		return nil, fmt.Errorf("%w: discovering %s: %v", ErrUnreachable, c.cfg.IssuerURL, err)
	}
	c.provider = p
	return p, nil
}

func (c *Client) oauth2(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  c.cfg.RedirectURL,
		Scopes:       append([]string{oidc.ScopeOpenID}, c.cfg.Scopes...),
	}
}

// AuthCodeURL returns the issuer's authorization URL for state, with the
// PKCE challenge of verifier and the nonce.
func (c *Client) AuthCodeURL(ctx context.Context, state, verifier, nonce string) (string, error) {
	p, err := c.discover(ctx)
	if err != nil {
		return "", err
	}
	return c.oauth2(p).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), nil
}

// Exchange redeems code with the PKCE verifier, verifies the ID token and
// its nonce, and returns the identity.
func (c *Client) Exchange(ctx context.Context, code, verifier, nonce string) (*Identity, error) {
	p, err := c.discover(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := c.oauth2(p).Exchange(c.ctx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("the identity provider refused the login code (%s): it was used already, has expired, or belongs to another login", re.ErrorCode)
		}
		return nil, fmt.Errorf("%w: redeeming the login code: %v", ErrUnreachable, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return nil, errors.New("the identity provider returned no ID token")
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: c.cfg.ClientID}).Verify(c.ctx(ctx), raw)
	if err != nil {
		return nil, fmt.Errorf("the ID token is not valid: %w", err)
	}
	if idt.Nonce != nonce {
		return nil, errors.New("the ID token's nonce does not match this login")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return nil, fmt.Errorf("reading ID token claims: %w", err)
	}
	return identity(idt.Issuer, idt.Subject, claims, c.cfg.GroupsClaim), nil
}

// identity is who an ID token's claims say the user is. The name is the
// email address only when the issuer says it verified it (email_verified),
// since allow-lists match it; otherwise preferred_username or name.
func identity(issuer, subject string, claims map[string]any, groupsClaim string) *Identity {
	id := &Identity{Issuer: issuer, Subject: subject, Groups: stringList(claims[groupsClaim])}
	for _, k := range []string{"email", "preferred_username", "name"} {
		if k == "email" && claims["email_verified"] != true {
			continue
		}
		if s, ok := claims[k].(string); ok && s != "" {
			id.Name = s
			break
		}
	}
	return id
}

func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
