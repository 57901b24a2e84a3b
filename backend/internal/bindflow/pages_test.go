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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
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

// The selection page says how many objects of each resource a consumer
// may have per namespace: the service's own bound, else the backend's.
func TestSelectionPageShowsBounds(t *testing.T) {
	codec, err := session.NewCodec(session.Keys{Signing: make([]byte, 64), Encryption: make([]byte, 32)})
	require.NoError(t, err)
	tmpl := &binderyv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "shop"},
		Spec: binderyv1alpha1.APIServiceExportTemplateSpec{DisplayName: "Shop", Resources: []binderyv1alpha1.ExportedResource{
			{Group: "db.example.com", Resource: "databases", MaxObjectsPerNamespace: ptr.To[int32](50)},
			{Group: "db.example.com", Resource: "backups"},
			{Group: "db.example.com", Resource: "logs", MaxObjectsPerNamespace: ptr.To[int32](0)},
		}},
	}
	h := &Handler{
		ExternalURL: "http://localhost:8080", ProviderPrettyName: "Example", Codec: codec, Log: testr.New(t),
		Client:                 fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(tmpl).Build(),
		MaxObjectsPerNamespace: 1000,
	}
	r := mux.NewRouter()
	h.Routes(r)
	v, err := codec.Encode(sessionCookie("s1"), session.Session{Subject: "alice", SessionID: "s1", ClusterID: "c1", Redirect: "http://127.0.0.1:1/cb", CSRF: "x", Expires: time.Now().Add(time.Minute)})
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodGet, "/resources?s=s1", nil)
	req.AddCookie(&http.Cookie{Name: session.CookieName(sessionCookie("s1")), Value: v})
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	assert.Contains(t, body, "<code>databases.db.example.com</code>, at most 50 per namespace</li>", "the service's own")
	assert.Contains(t, body, "<code>backups.db.example.com</code>, at most 1000 per namespace</li>", "the backend's")
	assert.Contains(t, body, "<code>logs.db.example.com</code></li>", "no bound")
}
