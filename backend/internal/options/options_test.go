package options

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestControllers(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "defaults are valid"},
		{name: "empty pretty name", args: []string{"--provider-pretty-name="}, wantErr: "--provider-pretty-name must not be empty"},
		{name: "too short sync period", args: []string{"--sync-period=1s"}, wantErr: "--sync-period must be at least 1m"},
		{name: "too short heartbeat interval", args: []string{"--heartbeat-interval=100ms"}, wantErr: "--heartbeat-interval must be at least 1s"},
		{name: "leader election without id", args: []string{"--leader-election-id="}, wantErr: "--leader-election-id must not be empty"},
		{name: "no leader election needs no id", args: []string{"--leader-elect=false", "--leader-election-id="}},
		{name: "no bound on objects per namespace", args: []string{"--max-objects-per-namespace=0"}},
		{name: "a negative bound on objects per namespace", args: []string{"--max-objects-per-namespace=-1"}, wantErr: "--max-objects-per-namespace must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewControllers()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			require.NoError(t, fs.Parse(tt.args))
			err := o.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				assert.Equal(t, 10*time.Hour, o.SyncPeriod)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestServer(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantExtURL string
	}{
		{name: "embedded issuer, local defaults", args: []string{"--oidc-issuer=embedded"}, wantExtURL: "http://localhost:8080"},
		{name: "external issuer with a secret", args: []string{"--oidc-issuer=https://idp.example.com", "--oidc-client-secret-file=/x", "--external-url=https://bind.example.com/"}, wantExtURL: "https://bind.example.com"},
		{name: "no issuer", wantErr: "--oidc-issuer is required"},
		{name: "external issuer without a secret", args: []string{"--oidc-issuer=https://idp.example.com"}, wantErr: "--oidc-client-secret-file"},
		{name: "issuer that is not a URL", args: []string{"--oidc-issuer=idp", "--oidc-client-secret=x"}, wantErr: "must be a URL"},
		{name: "TLS cert without key", args: []string{"--oidc-issuer=embedded", "--tls-cert-file=c.pem"}, wantErr: "go together"},
		{name: "one cookie key", args: []string{"--oidc-issuer=embedded", "--cookie-signing-key=abc"}, wantErr: "--cookie-signing-key and --cookie-encryption-key go together"},
		{name: "short token TTL", args: []string{"--oidc-issuer=embedded", "--token-ttl=1m"}, wantErr: "--token-ttl must be from 10m0s to 720h0m0s, not 1m0s"},
		{name: "token TTL beyond the maximum", args: []string{"--oidc-issuer=embedded", "--token-ttl=8760h"}, wantErr: "--token-ttl must be from 10m0s to 720h0m0s, not 8760h0m0s"},
		{name: "embedded issuer on a public URL", args: []string{"--oidc-issuer=embedded", "--external-url=https://bind.example.com"}, wantErr: "--oidc-issuer=embedded lets anyone log in as any user"},
		{name: "embedded issuer on a public URL with --dev", args: []string{"--oidc-issuer=embedded", "--external-url=https://bind.example.com", "--dev"}, wantExtURL: "https://bind.example.com"},
		{name: "embedded issuer on 127.0.0.1", args: []string{"--oidc-issuer=embedded", "--external-url=http://127.0.0.1:9000"}, wantExtURL: "http://127.0.0.1:9000"},
		{name: "bad external URL", args: []string{"--oidc-issuer=embedded", "--external-url=ftp://x"}, wantErr: "--external-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewServer()
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			o.AddFlags(fs)
			require.NoError(t, fs.Parse(tt.args))
			err := o.Validate()
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantExtURL, o.ExternalURL)
		})
	}
}
