package kubeconfig

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// providerKubeconfig is a kubeconfig as a provider issues it, with extra
// lines in the cluster and user entries.
func providerKubeconfig(server, clusterExtra, userExtra string) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: provider
  cluster:
    server: %s
    certificate-authority-data: %s
%s
users:
- name: consumer
  user:
%s
contexts:
- name: bind
  context: {cluster: provider, user: consumer, namespace: kube-bind-abc}
current-context: bind
`, server, base64.StdEncoding.EncodeToString([]byte("not a real CA")), indent(clusterExtra, 4), indent(userExtra, 4))
}

func indent(s string, n int) string {
	if s == "" {
		return ""
	}
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

func TestParseProvider(t *testing.T) {
	certData := "client-certificate-data: " + base64.StdEncoding.EncodeToString([]byte("cert")) + "\nclient-key-data: " + base64.StdEncoding.EncodeToString([]byte("key"))
	tests := []struct {
		name        string
		server      string
		cluster     string
		user        string
		opts        ProviderOptions
		wantErr     string
		wantToken   string
		wantCert    bool
		wantInsecur bool
	}{
		{name: "token", server: "https://provider.example.com:6443", user: "token: abc", wantToken: "abc"},
		{name: "client certificate", server: "https://10.0.0.1:6443", user: certData, wantCert: true},
		{name: "http on loopback", server: "http://127.0.0.1:8080", user: "token: abc", wantToken: "abc"},
		{name: "http on localhost", server: "http://localhost:8080", user: "token: abc", wantToken: "abc"},
		{name: "http elsewhere", server: "http://provider.example.com", user: "token: abc", wantErr: "plain http outside this machine"},
		{name: "not a URL", server: "provider.example.com", user: "token: abc", wantErr: "is not a URL"},
		{name: "other scheme", server: "ftp://provider.example.com", user: "token: abc", wantErr: `scheme "ftp" is not https`},
		{name: "exec plugin", server: "https://p:6443", user: "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: /bin/sh\n  args: [-c, 'touch /tmp/x']", wantErr: `exec (it would run "/bin/sh")`},
		{name: "auth provider", server: "https://p:6443", user: "auth-provider:\n  name: gcp", wantErr: `auth-provider "gcp"`},
		{name: "token file", server: "https://p:6443", user: "tokenFile: /etc/passwd", wantErr: "tokenFile (a file path)"},
		{name: "client certificate file", server: "https://p:6443", user: "client-certificate: /root/.ssh/id_rsa\nclient-key: /root/.ssh/id_rsa", wantErr: "client-certificate/client-key (file paths"},
		{name: "basic auth", server: "https://p:6443", user: "username: a\npassword: b", wantErr: "username/password"},
		{name: "impersonation", server: "https://p:6443", user: "token: abc\nas: system:admin", wantErr: "impersonation"},
		{name: "CA file", server: "https://p:6443", cluster: "certificate-authority: /etc/ssl/private/key.pem", user: "token: abc", wantErr: "certificate-authority (a file path"},
		{name: "proxy", server: "https://p:6443", cluster: "proxy-url: http://attacker.example.com", user: "token: abc", wantErr: "proxy-url"},
		{name: "insecure not asked for", server: "https://p:6443", cluster: "insecure-skip-tls-verify: true", user: "token: abc", wantErr: "insecure-skip-tls-verify (accepted only when you ask for it)"},
		{name: "insecure asked for", server: "https://p:6443", cluster: "insecure-skip-tls-verify: true", user: "token: abc", opts: ProviderOptions{AllowInsecureTLS: true}, wantToken: "abc", wantInsecur: true},
		{name: "no credential", server: "https://p:6443", user: "{}", wantErr: "holds no credential"},
		{name: "half a certificate", server: "https://p:6443", user: "client-certificate-data: " + base64.StdEncoding.EncodeToString([]byte("cert")), wantErr: "needs both client-certificate-data and client-key-data"},
		{name: "several refusals at once", server: "https://p:6443", user: "exec:\n  apiVersion: client.authentication.k8s.io/v1\n  command: evil\ntokenFile: /x", wantErr: `exec (it would run "evil"), tokenFile`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseProvider(providerKubeconfig(tt.server, tt.cluster, tt.user), tt.opts)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), "the provider's kubeconfig")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.server, p.Config.Host)
			assert.Equal(t, "kube-bind-abc", p.Namespace)
			assert.Equal(t, tt.wantToken, p.Config.BearerToken)
			assert.Equal(t, []byte("not a real CA"), p.Config.CAData)
			assert.Equal(t, tt.wantCert, len(p.Config.CertData) > 0 && len(p.Config.KeyData) > 0)
			assert.Equal(t, tt.wantInsecur, p.Config.Insecure)
			assert.Nil(t, p.Config.ExecProvider)
			assert.Nil(t, p.Config.AuthProvider)
		})
	}
}

func TestParseProviderStructure(t *testing.T) {
	tests := []struct {
		name, raw, wantErr string
	}{
		{"garbage", "{{{", "is not valid"},
		{"no current context", "apiVersion: v1\nkind: Config\n", "no current context"},
		{"missing cluster", "apiVersion: v1\nkind: Config\ncontexts: [{name: c, context: {cluster: x, user: u, namespace: ns1}}]\ncurrent-context: c\n", `names cluster "x"`},
		{"missing user", "apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: 'https://p'}}]\ncontexts: [{name: c, context: {cluster: x, user: u, namespace: ns1}}]\ncurrent-context: c\n", `names user "u"`},
		{"no namespace", "apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: 'https://p'}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: x, user: u}}]\ncurrent-context: c\n", "names no consumer namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseProvider([]byte(tt.raw), ProviderOptions{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}

// TestParseProviderRunsNoPlugin is the attack itself: a kubeconfig whose
// exec plugin would create a file is refused, and using what could be
// parsed of it, or loading it the way client-go does by default, is
// what must never happen. The file must not appear.
func TestParseProviderRunsNoPlugin(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system"}}`))
	}))
	defer srv.Close()
	raw := fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters: [{name: p, cluster: {server: %q}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/sh
      args: ["-c", "touch %s"]
      interactiveMode: Never
contexts: [{name: c, context: {cluster: p, user: u, namespace: kube-bind-abc}}]
current-context: c
`, srv.URL, marker)

	_, err := ParseProvider(raw, ProviderOptions{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exec")

	// The same kubeconfig with the plugin stripped away is what a caller
	// could still use: a request with it runs nothing.
	stripped := strings.Replace(string(raw), "exec:", "token: abc\n    x-exec:", 1)
	p, err := ParseProvider([]byte(stripped), ProviderOptions{})
	require.NoError(t, err)
	kube, err := kubernetes.NewForConfig(p.Config)
	require.NoError(t, err)
	_, err = kube.CoreV1().Namespaces().Get(t.Context(), "kube-system", metav1.GetOptions{})
	require.NoError(t, err)
	_, statErr := os.Stat(marker)
	assert.True(t, os.IsNotExist(statErr), "the exec plugin ran: %s exists", marker)
}

// FuzzParseProvider feeds arbitrary bytes as a provider kubeconfig: parsing
// never panics, and whatever it accepts is data only.
func FuzzParseProvider(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Config\nclusters:\n- name: p\n  cluster:\n    server: https://p.example.com\ncontexts:\n- name: p\n  context:\n    cluster: p\n    user: u\n    namespace: ns\ncurrent-context: p\nusers:\n- name: u\n  user:\n    token: t\n"))
	f.Add([]byte("users:\n- name: u\n  user:\n    exec:\n      command: /bin/sh\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := ParseProvider(raw, ProviderOptions{})
		if err != nil {
			return
		}
		c := p.Config
		if c.ExecProvider != nil || c.AuthProvider != nil || c.Proxy != nil || c.Impersonate.UserName != "" || c.Username != "" || c.Password != "" ||
			c.TLSClientConfig.CAFile != "" || c.TLSClientConfig.CertFile != "" || c.TLSClientConfig.KeyFile != "" || c.BearerTokenFile != "" || c.TLSClientConfig.Insecure {
			t.Fatalf("accepted a kubeconfig that is not data only: %+v", c)
		}
	})
}
