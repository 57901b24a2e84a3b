package bind

import (
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
}

// Login runs the browser login: a callback server on 127.0.0.1 with a
// random port and path secret, the provider's login page, and the
// BindingResponse the provider redirects back with. The response must
// carry this login's session ID.
func Login(ctx context.Context, p *kubebindv1alpha1.BindingProvider, o LoginOptions) (*kubebindv1alpha1.BindingResponse, error) {
	sessionID, secret := randomToken(), randomToken()
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
		resp, err := decodeResponse(r.URL.Query().Get("response"), sessionID)
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

	u, err := url.Parse(authorizeURL(p))
	if err != nil {
		return nil, hinted(err, "the provider's login URL is not valid", "tell the provider's operators")
	}
	q := u.Query()
	q.Set("u", callback)
	q.Set("s", sessionID)
	q.Set("c", o.ClusterID)
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

// decodeResponse decodes the base64 BindingResponse and checks it is for
// this login.
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
