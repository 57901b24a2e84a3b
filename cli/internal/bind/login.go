package bind

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"golang.org/x/term"

	"github.com/bindery-dev/bindery/apis/bindprotocol"
)

// LoginOptions configure the browser login.
type LoginOptions struct {
	// ClusterID identifies the consumer cluster to the provider.
	ClusterID string
	// NoBrowser prints the URL instead of opening a browser.
	NoBrowser bool
	// Timeout bounds the wait for the login.
	Timeout time.Duration
	// Out receives the URL and the progress line.
	Out io.Writer
	// Open opens a URL in a browser; nil means the system's browser.
	Open func(string) error
	// ClusterKey proves to the provider that the bind comes from this
	// cluster (bindprotocol.ClusterKey, see ClusterKey).
	ClusterKey string
	// HTTPClient redeems the one-time code; nil means a client with a
	// 30-second timeout.
	HTTPClient *http.Client
}

// Login runs the browser login: a callback server on 127.0.0.1 with a
// random port and path secret, and the provider's login page, started with
// the challenge of a verifier only this process holds. A Bindery provider
// redirects back with a one-time code, which Login redeems over the back
// channel with the verifier and the cluster key (package bindprotocol); a
// kube-bind provider redirects back with the BindingResponse itself. The
// response must carry this login's session ID.
func Login(ctx context.Context, p *kubebindv1alpha1.BindingProvider, o LoginOptions) (*kubebindv1alpha1.BindingResponse, error) {
	sessionID, secret, verifier := randomToken(), randomToken(), bindprotocol.NewSecret()
	exchangeURL, err := bindprotocol.ExchangeURL(AuthorizeURL(p))
	if err != nil {
		return nil, hinted(err, "the provider's login URL is not valid", "tell the provider's operators")
	}
	httpClient := o.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, hinted(err, "cannot listen on 127.0.0.1 for the login callback", "check that loopback networking works")
	}
	callback := fmt.Sprintf("http://%s/callback/%s", ln.Addr(), secret)

	type result struct {
		resp *kubebindv1alpha1.BindingResponse
		err  error
	}
	results := make(chan result, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/callback/{secret}", func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.PathValue("secret")), []byte(secret)) != 1 {
			http.Error(w, "unknown login", http.StatusNotFound)
			return
		}
		var resp *kubebindv1alpha1.BindingResponse
		var err error
		if code := r.URL.Query().Get(bindprotocol.CodeParam); code != "" {
			resp, err = redeem(ctx, httpClient, exchangeURL, bindprotocol.ExchangeRequest{Code: code, Verifier: verifier, ClusterKey: o.ClusterKey}, sessionID)
		} else {
			resp, err = decodeResponse(r.URL.Query().Get(bindprotocol.ResponseParam), sessionID)
		}
		if err != nil {
			http.Error(w, "kubectl bind could not use the provider's answer: "+err.Error(), http.StatusBadRequest)
		} else {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = io.WriteString(w, "<!doctype html><title>Bound</title><p>Done. You can close this window and return to your terminal.</p>")
		}
		select {
		case results <- result{resp, err}:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close() //nolint:errcheck

	u, err := url.Parse(AuthorizeURL(p))
	if err != nil {
		return nil, hinted(err, "the provider's login URL is not valid", "tell the provider's operators")
	}
	q := u.Query()
	q.Set("u", callback)
	q.Set("s", sessionID)
	q.Set("c", o.ClusterID)
	q.Set(bindprotocol.ChallengeParam, bindprotocol.Challenge(verifier))
	u.RawQuery = q.Encode()

	open := o.Open
	if open == nil {
		open = openBrowser
	}
	if o.NoBrowser || !hasDisplay() || open(u.String()) != nil {
		_, _ = fmt.Fprintf(o.Out, "Open this URL in a browser to log in and choose what to bind:\n\n  %s\n\n", u)
	} else {
		_, _ = fmt.Fprintf(o.Out, "Opened the provider's login page in your browser. If nothing opened, visit:\n  %s\n", u)
	}

	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	if !isTerminal(o.Out) {
		// A progress line needs a terminal; in a log it is noise.
		ticker.Stop()
	}
	clearLine := func() {
		if isTerminal(o.Out) {
			_, _ = fmt.Fprint(o.Out, "\r\033[K")
		}
	}
	start := time.Now()
	for {
		select {
		case r := <-results:
			clearLine()
			if r.err != nil {
				return nil, hinted(r.err, "the provider's answer is not usable", "run kubectl bind again")
			}
			return r.resp, nil
		case <-ticker.C:
			_, _ = fmt.Fprintf(o.Out, "\r\033[KWaiting for the login in the browser… %s (Ctrl-C to stop)", time.Since(start).Round(time.Second))
		case <-ctx.Done():
			clearLine()
			if parent.Err() == nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, hinted(nil, fmt.Sprintf("no login within %s", timeout), "run kubectl bind again and finish the login in the browser, or raise --login-timeout")
			}
			return nil, hinted(ctx.Err(), "the login was interrupted", "run kubectl bind again")
		}
	}
}

// redeem exchanges a one-time code for the BindingResponse at the
// provider's exchange URL, and checks it is for this login.
func redeem(ctx context.Context, c *http.Client, exchangeURL string, req bindprotocol.ExchangeRequest, sessionID string) (*kubebindv1alpha1.BindingResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, exchangeURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	resp, err := c.Do(r)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the provider at %s to redeem the login's code: %w", exchangeURL, err)
	}
	defer resp.Body.Close() //nolint:errcheck
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading the provider's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error, Detail, Hint string }
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("the provider refused the bind: %s. %s %s", e.Error, e.Detail, e.Hint)
		}
		return nil, fmt.Errorf("the provider answered %s to the login's code", resp.Status)
	}
	return checkResponse(raw, sessionID)
}

// maxResponse bounds a BindingResponse: a kubeconfig and a few requests.
const maxResponse = 1 << 20

// decodeResponse decodes the base64 BindingResponse of kube-bind's
// redirect and checks it is for this login.
func decodeResponse(raw, sessionID string) (*kubebindv1alpha1.BindingResponse, error) {
	if raw == "" {
		return nil, errors.New("the callback carries no response")
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		if b, err = base64.URLEncoding.DecodeString(raw); err != nil {
			return nil, errors.New("the response is not base64")
		}
	}
	return checkResponse(b, sessionID)
}

// checkResponse decodes a BindingResponse and checks it is for this login
// and complete.
func checkResponse(b []byte, sessionID string) (*kubebindv1alpha1.BindingResponse, error) {
	resp := &kubebindv1alpha1.BindingResponse{}
	if err := json.Unmarshal(b, resp); err != nil {
		return nil, fmt.Errorf("the response is not a BindingResponse: %w", err)
	}
	if g := resp.Authentication.OAuth2CodeGrant; g == nil || subtle.ConstantTimeCompare([]byte(g.SessionID), []byte(sessionID)) != 1 {
		return nil, errors.New("the response is for another login session")
	}
	if len(resp.Kubeconfig) == 0 {
		return nil, errors.New("the response has no kubeconfig")
	}
	if len(resp.Requests) == 0 {
		return nil, errors.New("the response requests nothing to bind")
	}
	return resp, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hasDisplay reports whether a browser can be shown.
func hasDisplay() bool {
	switch runtime.GOOS {
	case "darwin", "windows":
		return true
	}
	return os.Getenv("DISPLAY") != "" || os.Getenv("WAYLAND_DISPLAY") != ""
}

func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	return cmd.Start()
}

// isTerminal reports whether w is a terminal, where a progress line can
// be redrawn.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
