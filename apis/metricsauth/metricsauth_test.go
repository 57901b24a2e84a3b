package metricsauth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
)

// The cluster of these tests knows the token "reader" as alice, who may
// get /metrics, and "nobody" as bob, who may not.
func TestGuard(t *testing.T) {
	reviewBackoff = wait.Backoff{Duration: time.Millisecond, Steps: 3}
	for _, tc := range []struct {
		name       string
		header     string
		path       string
		down       error // the cluster's answer to every review
		wantStatus int
		wantBody   string
		wantCalls  int // reviews asked, both requests together
	}{
		{name: "no credentials", wantStatus: http.StatusUnauthorized, wantBody: "Unauthorized"},
		{name: "not a bearer token", header: "Basic cmVhZGVyOg==", wantStatus: http.StatusUnauthorized},
		{name: "an empty bearer token", header: "Bearer ", wantStatus: http.StatusUnauthorized},
		{name: "a token the cluster does not know", header: "Bearer stranger", wantStatus: http.StatusUnauthorized, wantCalls: 2},
		{name: "a user without the right", header: "Bearer nobody", wantStatus: http.StatusForbidden, wantBody: "Authorization denied for user bob", wantCalls: 2},
		{name: "a user with the right, answers kept", header: "Bearer reader", wantStatus: http.StatusOK, wantBody: "metrics", wantCalls: 2},
		{name: "the same user on another path", header: "bearer reader", path: "/other", wantStatus: http.StatusForbidden, wantCalls: 2},
		{name: "the cluster fails: retried, then an error", header: "Bearer reader", down: apierrors.NewInternalError(errors.New("etcd")), wantStatus: http.StatusInternalServerError, wantBody: "Authentication failed", wantCalls: 6},
		{name: "the cluster refuses the review: not retried", header: "Bearer reader", down: apierrors.NewForbidden(schema.GroupResource{Resource: "tokenreviews"}, "", errors.New("no")), wantStatus: http.StatusInternalServerError, wantCalls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			calls := 0
			cs.PrependReactor("create", "tokenreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
				calls++
				if tc.down != nil {
					return true, nil, tc.down
				}
				tr := a.(clienttesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
				switch tr.Spec.Token {
				case "reader":
					tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice", UID: "1", Groups: []string{"readers"}}}
				case "nobody":
					tr.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "bob", UID: "2"}}
				}
				return true, tr, nil
			})
			cs.PrependReactor("create", "subjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
				calls++
				sar := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
				s := sar.Spec
				sar.Status.Allowed = s.User == "alice" && s.UID == "1" && len(s.Groups) == 1 && s.Groups[0] == "readers" &&
					s.NonResourceAttributes != nil && s.NonResourceAttributes.Verb == "get" && s.NonResourceAttributes.Path == "/metrics"
				return true, sar, nil
			})
			g := newGuard(cs.AuthenticationV1().TokenReviews(), cs.AuthorizationV1().SubjectAccessReviews())
			h := g.handler(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) }))
			path := tc.path
			if path == "" {
				path = "/metrics"
			}
			for range 2 {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				assert.Equal(t, tc.wantStatus, rec.Code)
				assert.Contains(t, rec.Body.String(), tc.wantBody)
			}
			require.Equal(t, tc.wantCalls, calls, "reviews asked")
		})
	}
}
