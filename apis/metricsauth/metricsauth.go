// Package metricsauth guards a controller manager's metrics endpoint: it
// lets through only callers the cluster authenticates and allows to get
// the path, as controller-runtime's filters.WithAuthenticationAndAuthorization
// does.
//
// It asks the cluster the same two questions (a TokenReview of the bearer
// token, then a SubjectAccessReview of the non-resource path and verb)
// with client-go's typed clients. controller-runtime's filter gets there
// through the API server's own delegating authenticator and authorizer,
// whose webhook, CEL and tracing packages made up 27 MiB of the
// konnector's 60 MiB of program pages, and most of them were resident.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/wait"
	authenticationclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long answers are kept, how long the cluster is given to answer, and
// how often it is asked again after an error: as controller-runtime's
// filter does.
const (
	authenticatedTTL = time.Minute
	allowedTTL       = 5 * time.Minute
	deniedTTL        = 30 * time.Second
	reviewTimeout    = 10 * time.Second
	// cacheSize bounds each cache: scrapers are few.
	cacheSize = 1024
)

var reviewBackoff = wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}

// WithAuthenticationAndAuthorization is a metricsserver.Options
// FilterProvider.
func WithAuthenticationAndAuthorization(c *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
	tokens, err := authenticationclient.NewForConfigAndClient(c, hc)
	if err != nil {
		return nil, fmt.Errorf("creating the TokenReview client: %w", err)
	}
	access, err := authorizationclient.NewForConfigAndClient(c, hc)
	if err != nil {
		return nil, fmt.Errorf("creating the SubjectAccessReview client: %w", err)
	}
	g := newGuard(tokens.TokenReviews(), access.SubjectAccessReviews())
	return func(log logr.Logger, next http.Handler) (http.Handler, error) { return g.handler(log, next), nil }, nil
}

// guard answers who calls and whether they may.
type guard struct {
	tokens authenticationclient.TokenReviewInterface
	access authorizationclient.SubjectAccessReviewInterface
	// users holds the user of each token (by hash) the cluster
	// authenticated; decisions whether a user may use a verb on a path.
	users, decisions *cache.LRUExpireCache
}

func newGuard(tokens authenticationclient.TokenReviewInterface, access authorizationclient.SubjectAccessReviewInterface) *guard {
	return &guard{tokens: tokens, access: access, users: cache.NewLRUExpireCache(cacheSize), decisions: cache.NewLRUExpireCache(cacheSize)}
}

// handler serves next to the requests the cluster allows.
func (g *guard) handler(log logr.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, msg, err := g.check(r)
		if err != nil {
			log.Error(err, "Checking a metrics request", "path", r.URL.Path)
		}
		if status != http.StatusOK {
			http.Error(w, msg, status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// check returns http.StatusOK for a request the cluster allows,
// StatusUnauthorized without a valid token, StatusForbidden for a user
// without the right, and StatusInternalServerError (with the error) when
// the cluster could not answer; and what to tell the caller.
func (g *guard) check(r *http.Request) (status int, msg string, err error) {
	token, ok := bearerToken(r)
	if !ok {
		return http.StatusUnauthorized, "Unauthorized", nil
	}
	user, err := g.authenticate(r.Context(), token)
	if err != nil {
		return http.StatusInternalServerError, "Authentication failed", err
	}
	if user == nil {
		return http.StatusUnauthorized, "Unauthorized", nil
	}
	allowed, err := g.authorize(r.Context(), user, strings.ToLower(r.Method), r.URL.Path)
	switch {
	case err != nil:
		return http.StatusInternalServerError, "Authorization for user " + user.Username + " failed", err
	case !allowed:
		return http.StatusForbidden, "Authorization denied for user " + user.Username, nil
	}
	return http.StatusOK, "", nil
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "bearer") && token != ""
}

// authenticate returns the user the cluster knows the token as, or nil.
func (g *guard) authenticate(ctx context.Context, token string) (*authenticationv1.UserInfo, error) {
	key := sha256.Sum256([]byte(token))
	if u, ok := g.users.Get(key); ok {
		return u.(*authenticationv1.UserInfo), nil
	}
	var review *authenticationv1.TokenReview
	err := ask(ctx, func(ctx context.Context) (err error) {
		review, err = g.tokens.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reviewing a token: %w", err)
	}
	if !review.Status.Authenticated {
		return nil, nil
	}
	g.users.Add(key, &review.Status.User, authenticatedTTL)
	return &review.Status.User, nil
}

// authorize returns whether the cluster allows user verb on the
// non-resource path.
func (g *guard) authorize(ctx context.Context, user *authenticationv1.UserInfo, verb, path string) (bool, error) {
	spec := authorizationv1.SubjectAccessReviewSpec{
		User: user.Username, UID: user.UID, Groups: user.Groups,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: verb, Path: path},
	}
	if len(user.Extra) > 0 {
		spec.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range user.Extra {
			spec.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	key := fmt.Sprintf("%q %q %q %q %q", user.UID, user.Username, user.Groups, verb, path)
	if allowed, ok := g.decisions.Get(key); ok {
		return allowed.(bool), nil
	}
	var review *authorizationv1.SubjectAccessReview
	err := ask(ctx, func(ctx context.Context) (err error) {
		review, err = g.access.Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("reviewing access of %s to %s %s: %w", user.Username, verb, path, err)
	}
	ttl := deniedTTL
	if review.Status.Allowed {
		ttl = allowedTTL
	}
	g.decisions.Add(key, review.Status.Allowed, ttl)
	return review.Status.Allowed, nil
}

// ask makes a review, each try within reviewTimeout, and tries again
// while the cluster cannot answer.
func ask(ctx context.Context, review func(context.Context) error) error {
	again := func(err error) bool { return ctx.Err() == nil && transient(err) }
	return retry.OnError(reviewBackoff, again, func() error {
		ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
		defer cancel()
		return review(ctx)
	})
}

// transient reports whether an error may pass: the API server was not
// reached, was overloaded or failed; not when it refused the review.
func transient(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code := status.Status().Code
		return code == http.StatusTooManyRequests || code >= http.StatusInternalServerError
	}
	return true
}
