// Package bind implements kubectl bind: it fetches a provider's
// BindingProvider document, logs in through the browser with a loopback
// callback, and then applies what the provider returned to both clusters.
package bind

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"

	"github.com/bindery-dev/bindery/apis/catalog"
	"github.com/bindery-dev/bindery/apis/kubeconfig"
)

// Error is a failure with a hint on what to do about it; the CLI prints
// both on one line.
type Error struct {
	Msg  string
	Hint string
	Err  error
}

func (e *Error) Error() string {
	s := e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Hint != "" {
		s += " (hint: " + e.Hint + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func hinted(err error, msg, hint string) error { return &Error{Msg: msg, Hint: hint, Err: err} }

// FetchOptions say what a provider may do that is refused by default.
type FetchOptions struct {
	// InsecureHTTP accepts a provider at a plain http:// address outside
	// this machine.
	InsecureHTTP bool
}

// InsecureHTTPFlag is the flag that sets FetchOptions.InsecureHTTP.
const InsecureHTTPFlag = "insecure-http"

// FetchProvider reads the BindingProvider document at u and checks that it
// is one this CLI can bind with.
func FetchProvider(ctx context.Context, c *http.Client, u string, o FetchOptions) (*kubebindv1alpha1.BindingProvider, error) {
	parsed, err := url.Parse(u)
	if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" {
		return nil, hinted(nil, fmt.Sprintf("%q is not an http(s) URL", u), "pass the provider's URL, e.g. https://bindery.example.com/export")
	}
	if err := checkTransport(parsed, o); err != nil {
		return nil, err
	}
	if parsed.Path == "" || parsed.Path == "/" {
		// The provider's bare address: its document is at /export.
		parsed.Path = "/export"
		u = parsed.String()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, hinted(err, "cannot reach the provider at "+u, "check the URL and your network")
	}
	defer resp.Body.Close() //nolint:errcheck
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, hinted(err, "cannot read the provider's answer", "try again")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, hinted(nil, fmt.Sprintf("%s answered %s", u, resp.Status), "check the URL; a Bindery backend serves it at /export")
	}
	p := &kubebindv1alpha1.BindingProvider{}
	if err := json.Unmarshal(body, p); err != nil || p.Kind != "BindingProvider" {
		return nil, hinted(nil, u+" is not a Bindery or kube-bind provider", "a provider's URL serves a BindingProvider document, usually at /export")
	}
	if p.APIVersion != "v1alpha1" && p.APIVersion != kubebindv1alpha1.SchemeGroupVersion.String() {
		return nil, hinted(nil, fmt.Sprintf("the provider speaks %q, this kubectl-bind speaks kube-bind.io/v1alpha1", p.APIVersion), "use a kubectl-bind matching the provider")
	}
	if AuthorizeURL(p) == "" {
		return nil, hinted(nil, "the provider offers no browser login (oauth2code)", "ask the provider for a kubeconfig and use kubectl bind apiservice")
	}
	login, err := url.Parse(AuthorizeURL(p))
	if err != nil || (login.Scheme != "https" && login.Scheme != "http") || login.Host == "" {
		return nil, hinted(nil, fmt.Sprintf("the provider's login URL %q is not an http(s) URL", AuthorizeURL(p)), "tell the provider's operators")
	}
	if err := checkTransport(login, o); err != nil {
		return nil, err
	}
	return p, nil
}

// checkTransport refuses plain http outside this machine: the login and
// the credentials that come back would travel unencrypted, and anyone on
// the way could read them or hand back a kubeconfig of their own.
func checkTransport(u *url.URL, o FetchOptions) error {
	if u.Scheme == "https" || kubeconfig.IsLoopback(u) || o.InsecureHTTP {
		return nil
	}
	return hinted(nil, fmt.Sprintf("%s is plain http outside this machine: your login and the provider's credentials would travel unencrypted, and anyone on the way could read or replace them", u.Redacted()),
		"use the provider's https:// address, or pass --"+InsecureHTTPFlag+" if you accept that risk")
}

// AuthorizeURL is the provider's OAuth2 code grant login URL.
func AuthorizeURL(p *kubebindv1alpha1.BindingProvider) string {
	for _, m := range p.AuthenticationMethods {
		if m.Method == "OAuth2CodeGrant" && m.OAuth2CodeGrant != nil {
			return m.OAuth2CodeGrant.AuthenticatedURL
		}
	}
	return ""
}

// FetchCatalog reads a provider's public list of services, served next to
// its BindingProvider document (…/templates for …/export).
func FetchCatalog(ctx context.Context, c *http.Client, exportURL string, o FetchOptions) (*catalog.Listing, error) {
	if _, err := FetchProvider(ctx, c, exportURL, o); err != nil {
		return nil, err
	}
	u, _ := url.Parse(exportURL)
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/export") + "/templates"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, hinted(err, "cannot reach the provider at "+u.String(), "check the URL and your network")
	}
	defer resp.Body.Close() //nolint:errcheck
	if resp.StatusCode == http.StatusNotFound {
		return nil, hinted(nil, "this provider shows its services only after login", "run kubectl bind "+exportURL+" to log in and choose")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, hinted(nil, fmt.Sprintf("%s answered %s", u, resp.Status), "try again later")
	}
	l := &catalog.Listing{}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(l); err != nil {
		return nil, hinted(err, "the provider's list of services is not valid", "tell the provider's operators")
	}
	return l, nil
}
