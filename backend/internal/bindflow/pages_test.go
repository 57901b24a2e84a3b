package bindflow

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/gorilla/mux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bindery-dev/bindery/backend/internal/auth/session"
	"github.com/bindery-dev/bindery/backend/internal/scheme"
)

// The selection page explains in plain words when nothing is offered, and
// an expired session.
func TestSelectionPageMessages(t *testing.T) {
	codec, err := session.NewCodec(session.Keys{Signing: make([]byte, 64), Encryption: make([]byte, 32)})
	require.NoError(t, err)
	now := time.Now()
	h := &Handler{
		ExternalURL: "http://localhost:8080", ProviderPrettyName: "Example", Codec: codec, Log: testr.New(t),
		Client: fake.NewClientBuilder().WithScheme(scheme.Scheme).Build(),
		Now:    func() time.Time { return now },
	}
	r := mux.NewRouter()
	h.Routes(r)
	cookie := func(expires time.Time) *http.Cookie {
		v, err := codec.Encode(sessionCookie("s1"), session.Session{Subject: "alice", SessionID: "s1", ClusterID: "c1", Redirect: "http://127.0.0.1:1/cb", CSRF: "x", Expires: expires})
		require.NoError(t, err)
		return &http.Cookie{Name: session.CookieName(sessionCookie("s1")), Value: v}
	}
	tests := []struct {
		name   string
		cookie *http.Cookie
		status int
		text   string
	}{
		{"nothing offered", cookie(now.Add(time.Minute)), http.StatusOK, "Example offers nothing yet"},
		{"an expired session", cookie(now.Add(-time.Minute)), http.StatusUnauthorized, "Your session has expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/resources?s=s1", nil)
			req.AddCookie(tt.cookie)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, req)
			assert.Equal(t, tt.status, rec.Code)
			assert.Contains(t, rec.Body.String(), tt.text)
			assert.Contains(t, rec.Body.String(), `<html lang="en">`)
		})
	}
}
