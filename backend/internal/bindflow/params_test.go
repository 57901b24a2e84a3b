package bindflow

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAuthorize(t *testing.T) {
	tests := []struct {
		name     string
		query    string
		redirect string
		wantErr  string
	}{
		{name: "kube-bind port form", query: "p=5000&s=abc&c=xyz", redirect: "http://localhost:5000/callback"},
		{name: "url on 127.0.0.1", query: "u=http://127.0.0.1:4321/callback&s=abc&c=xyz", redirect: "http://127.0.0.1:4321/callback"},
		{name: "url on ::1", query: "u=http://[::1]:4321/cb&s=abc&c=xyz", redirect: "http://[::1]:4321/cb"},
		{name: "url on localhost", query: "u=http://localhost:1/callback&s=abc&c=xyz", redirect: "http://localhost:1/callback"},
		{name: "u wins over p", query: "u=http://127.0.0.1:9/x&p=5000&s=a&c=b", redirect: "http://127.0.0.1:9/x"},
		{name: "nothing", query: "", wantErr: "missing query parameter(s): s, c, u or p"},
		{name: "no session", query: "p=1&c=x", wantErr: "missing query parameter(s): s"},
		{name: "remote host", query: "u=http://evil.example.com/steal&s=a&c=b", wantErr: "must point to this computer"},
		{name: "https remote", query: "u=https://evil.example.com/&s=a&c=b", wantErr: "plain http:// URL"},
		{name: "other loopback address", query: "u=http://127.0.0.2:80/&s=a&c=b", wantErr: "must point to this computer"},
		{name: "IPv4-mapped IPv6", query: "u=http://[::ffff:127.0.0.1]:80/&s=a&c=b", wantErr: "must point to this computer"},
		{name: "localhost lookalike", query: "u=http://localhost.evil.com/&s=a&c=b", wantErr: "must point to this computer"},
		{name: "user info", query: "u=http://evil.com@127.0.0.1/&s=a&c=b", wantErr: "plain http:// URL"},
		{name: "javascript", query: "u=javascript:alert(1)&s=a&c=b", wantErr: "plain http:// URL"},
		{name: "zero port", query: "p=0&s=a&c=b", wantErr: "port p must be a number"},
		{name: "huge port", query: "p=70000&s=a&c=b", wantErr: "port p must be a number"},
		{name: "bad session id", query: "p=1&s=a/b&c=b", wantErr: "session ID s"},
		{name: "bad cluster id", query: "p=1&s=a&c=" + url.QueryEscape("<script>"), wantErr: "cluster ID c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			got, err := parseAuthorize(q)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.redirect, got.Redirect)
		})
	}
}

func FuzzParseAuthorize(f *testing.F) {
	f.Add("p=5000&s=abc&c=xyz")
	f.Add("u=http://127.0.0.1:4321/callback&s=abc&c=xyz")
	f.Add("u=http://[::1]/&s=a&c=b")
	f.Add("u=http://evil@localhost/&s=a&c=b")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := parseAuthorize(q)
		if err != nil {
			return
		}
		// Whatever is accepted redirects to this computer only.
		u, err := url.Parse(p.Redirect)
		require.NoError(t, err)
		assert.Equal(t, "http", u.Scheme)
		assert.Contains(t, []string{"127.0.0.1", "::1", "localhost"}, u.Hostname())
		assert.Nil(t, u.User)
	})
}
