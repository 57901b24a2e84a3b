package framework

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// OIDCProvider is a running npm oidc-provider, a certified OpenID
// provider, with one static client. Its development login page accepts any
// user name and password and then asks for consent.
type OIDCProvider struct {
	IssuerURL    string
	ClientID     string
	ClientSecret string
	process      *Process
}

// OIDCOptions configure StartOIDCProvider.
type OIDCOptions struct {
	RedirectURIs []string
	// Groups maps user names to the groups in their ID tokens.
	Groups map[string][]string
	// PKCEOptional lets the client log in without PKCE, as kube-bind's
	// example-backend does; PKCE is required otherwise.
	PKCEOptional bool
	// Host is the address it listens on and names in its issuer URL;
	// "localhost" when empty. Pods on a node reach this machine by
	// HostIP, so a backend running in a pod needs that.
	Host string
}

// StartOIDCProvider starts test/oidcprovider on a free port of localhost
// until the test ends. `make test-deps` installs its npm packages.
func StartOIDCProvider(t TB, o OIDCOptions) *OIDCProvider {
	t.Helper()
	dir := filepath.Join(RepoRoot(), "test", "oidcprovider")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider")); err != nil {
		t.Fatalf("npm oidc-provider is not installed in %s: run `make test-deps`", dir)
	}
	if o.Groups == nil {
		o.Groups = map[string][]string{}
	}
	groups, err := json.Marshal(o.Groups)
	if err != nil {
		t.Fatal(err)
	}
	pkce := "required"
	if o.PKCEOptional {
		pkce = "optional"
	}
	// The port is free when chosen, but another process may take it
	// before the provider listens: start again on another one then.
	for range 3 {
		var p *OIDCProvider
		if p, err = startOIDCProviderOnce(t, o, dir, string(groups), pkce); err == nil {
			return p
		}
		t.Logf("oidc-provider did not start (%v); trying another port", err)
	}
	t.Fatal(err)
	return nil
}

// startOIDCProviderOnce starts the provider on a free port and waits until
// it serves its discovery document, or returns why it exited.
func startOIDCProviderOnce(t TB, o OIDCOptions, dir, groups, pkce string) (*OIDCProvider, error) {
	port := FreePort(t)
	host := o.Host
	if host == "" {
		host = "localhost"
	}
	p := &OIDCProvider{IssuerURL: "http://" + net.JoinHostPort(host, strconv.Itoa(port)), ClientID: "bindery", ClientSecret: "test-secret-" + strconv.Itoa(port)}
	logs := newLogSet(t.TempDir())
	p.process = &Process{
		Name: "oidc-provider", Path: "node", Args: []string{"server.mjs"}, Dir: dir,
		Env: append(os.Environ(),
			"PORT="+strconv.Itoa(port), "HOST="+host, "CLIENT_ID="+p.ClientID, "CLIENT_SECRET="+p.ClientSecret,
			"REDIRECT_URIS="+strings.Join(o.RedirectURIs, ","), "GROUPS="+groups, "PKCE="+pkce),
		Log: logs.writer("oidc-provider"),
	}
	if err := p.process.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.process.Stop()
		if t.Failed() {
			logs.dump(t, "oidc")
		}
		logs.close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if done, err := p.process.Exited(); done {
			return nil, fmt.Errorf("oidc-provider exited: %v", err)
		}
		resp, err := http.Get(p.IssuerURL + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close() //nolint:errcheck
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
			err = fmt.Errorf("discovery: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("oidc-provider is not serving within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
