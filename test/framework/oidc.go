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

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
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
			"REDIRECT_URIS="+strings.Join(o.RedirectURIs, ","), "GROUPS="+string(groups), "PKCE="+pkce),
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
	Eventually(t, func() (bool, string) {
		if done, err := p.process.Exited(); done {
			return false, fmt.Sprintf("oidc-provider exited: %v", err)
		}
		resp, err := http.Get(p.IssuerURL + "/.well-known/openid-configuration")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	}, 30*time.Second)
	return p
}
