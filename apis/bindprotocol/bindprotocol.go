// Package bindprotocol is what Bindery's kubectl bind and backend add to
// kube-bind's OAuth2CodeGrant flow, so that the provider's credential never
// travels in a URL and only the kubectl bind that started a login can
// obtain it:
//
//  1. kubectl bind sends, besides kube-bind's u, s and c, the S256
//     challenge of a verifier only it holds (ChallengeParam) to
//     /authorize.
//  2. After the user's choice, the backend redirects the browser to the
//     CLI's loopback callback with a short-lived one-time code
//     (CodeParam), not with the BindingResponse.
//  3. The CLI redeems the code over the back channel: a POST of an
//     ExchangeRequest, with the verifier and its cluster key, to the
//     exchange URL next to the provider's authenticated URL. The answer is
//     the BindingResponse.
//
// A process that sees the code (in the browser's history, or listening on
// the loopback port) cannot redeem it without the verifier. The cluster
// key ties a consumer cluster's namespace on the provider to the cluster
// that first bound it, so that a crafted link, whose author holds a
// verifier of its own, cannot obtain a credential for a cluster that is
// already bound.
//
// A client that sends no challenge (kube-bind's CLI) still gets kube-bind's
// ?response= redirect; see docs/interop.md for what that costs.
package bindprotocol

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
)

const (
	// ChallengeParam is /authorize's query parameter with the S256
	// challenge (RFC 7636) of the CLI's verifier.
	ChallengeParam = "cc"
	// CodeParam is the callback's query parameter with the one-time code.
	CodeParam = "code"
	// ResponseParam is kube-bind's callback parameter with the base64
	// BindingResponse, for clients that send no challenge.
	ResponseParam = "response"
	// ExchangePath is where codes are redeemed, relative to the
	// provider's authenticated URL (…/exchange next to …/authorize).
	ExchangePath = "exchange"
	// MaxExchangeBody bounds an ExchangeRequest.
	MaxExchangeBody = 8 << 10
	// ClusterSecretName is the Secret, in the consumer cluster's kube-bind
	// namespace, whose ClusterSecretKey holds the secret that cluster keys
	// are derived from. kubectl bind creates it on the first bind.
	ClusterSecretName = "bindery-cluster-key"
	ClusterSecretKey  = "secret"
)

// ExchangeRequest is the JSON body of a POST to the exchange URL.
type ExchangeRequest struct {
	// Code is the one-time code the callback received.
	Code string `json:"code"`
	// Verifier is the secret whose challenge the login started with.
	Verifier string `json:"verifier"`
	// ClusterKey proves the request comes from the consumer cluster that
	// first bound at this provider (see ClusterKey).
	ClusterKey string `json:"clusterKey"`
}

// validSecret is what a verifier or a cluster key looks like: RFC 7636's
// 43 to 128 unreserved characters.
var validSecret = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// Validate checks the request's shape, so that a malformed one is refused
// before anything is decoded or looked up.
func (r *ExchangeRequest) Validate() error {
	switch {
	case r.Code == "" || len(r.Code) > 4096:
		return fmt.Errorf("code must be 1 to 4096 characters")
	case !validSecret.MatchString(r.Verifier):
		return fmt.Errorf("verifier must be 43 to 128 letters, digits, '-', '.', '_' or '~'")
	case !validSecret.MatchString(r.ClusterKey):
		return fmt.Errorf("clusterKey must be 43 to 128 letters, digits, '-', '.', '_' or '~'")
	}
	return nil
}

// NewSecret returns a random verifier or cluster secret: 32 random bytes,
// base64url without padding (43 characters).
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Challenge is the S256 challenge of a verifier.
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ValidChallenge reports whether c looks like an S256 challenge.
func ValidChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// ClusterKey derives the key a consumer cluster shows one provider from
// the cluster's secret (kept in the consumer cluster) and the provider's
// BindingProvider URL. Each provider sees a different key, so that no
// provider can replay the one it saw at another.
func ClusterKey(clusterSecret, providerURL string) string {
	m := hmac.New(sha256.New, []byte(clusterSecret))
	m.Write([]byte(providerURL))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ExchangeURL is the exchange URL of a provider whose authenticated (login)
// URL is authorizeURL.
func ExchangeURL(authorizeURL string) (string, error) {
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return "", fmt.Errorf("the provider's login URL %q is not a URL: %w", authorizeURL, err)
	}
	u.RawQuery, u.Fragment = "", ""
	return u.ResolveReference(&url.URL{Path: ExchangePath}).String(), nil
}
