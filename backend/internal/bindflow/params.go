package bindflow

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
)

var (
	validSessionID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	validClusterID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// authorizeParams are the query parameters of /authorize.
type authorizeParams struct {
	Redirect  string
	SessionID string
	ClusterID string
	// Challenge is the S256 challenge of Bindery's CLI; kube-bind's sends
	// none.
	Challenge string
}

// parseAuthorize checks /authorize's query: a loopback redirect given as u
// (a URL) or p (a port, meaning http://localhost:<p>/callback, as
// kube-bind's CLI sends), a session ID s, a cluster ID c and, from
// Bindery's CLI, a code challenge cc.
func parseAuthorize(q url.Values) (authorizeParams, error) {
	var p authorizeParams
	var missing []string
	for _, k := range []string{"s", "c"} {
		if q.Get(k) == "" {
			missing = append(missing, k)
		}
	}
	u, port := q.Get("u"), q.Get("p")
	if u == "" && port == "" {
		missing = append(missing, "u or p")
	}
	if len(missing) > 0 {
		return p, fmt.Errorf("missing query parameter(s): %s", strings.Join(missing, ", "))
	}
	if !validSessionID.MatchString(q.Get("s")) {
		return p, fmt.Errorf("the session ID s must be 1 to 64 letters, digits, - or _")
	}
	if !validClusterID.MatchString(q.Get("c")) {
		return p, fmt.Errorf("the cluster ID c must be 1 to 64 letters, digits, - or _")
	}
	p.SessionID, p.ClusterID = q.Get("s"), q.Get("c")
	if cc := q.Get(bindprotocol.ChallengeParam); cc != "" {
		if !bindprotocol.ValidChallenge(cc) {
			return p, fmt.Errorf("the code challenge %s must be the unpadded base64url SHA-256 of the CLI's verifier", bindprotocol.ChallengeParam)
		}
		p.Challenge = cc
	}
	if u != "" {
		if err := checkLoopback(u); err != nil {
			return p, err
		}
		p.Redirect = u
		return p, nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return p, fmt.Errorf("the port p must be a number from 1 to 65535")
	}
	p.Redirect = "http://localhost:" + strconv.Itoa(n) + "/callback"
	return p, nil
}

// checkLoopback accepts only http URLs on 127.0.0.1, [::1] or localhost,
// as RFC 8252 section 7.3 describes for native apps: the CLI listens
// there, and nothing else may receive a BindingResponse.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("the redirect URL is not a URL")
	}
	if u.Scheme != "http" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("the redirect URL must be a plain http:// URL on this computer (127.0.0.1, [::1] or localhost)")
	}
	host := u.Hostname()
	if host != "localhost" {
		ip := net.ParseIP(host)
		if ip == nil || !(ip.Equal(net.IPv4(127, 0, 0, 1)) || ip.Equal(net.IPv6loopback)) || (strings.Contains(host, ":") != (ip.To4() == nil)) {
			return fmt.Errorf("the redirect URL must point to this computer (127.0.0.1, [::1] or localhost), not %q", host)
		}
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("the redirect URL has an invalid port")
		}
	}
	return nil
}
