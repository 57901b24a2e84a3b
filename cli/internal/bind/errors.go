package bind

import (
	"errors"
	"fmt"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Errors of the consumer and provider clusters, turned into one line with
// a hint.

func consumerError(err error, what string) error {
	switch {
	case apierrors.IsForbidden(err):
		return hinted(err, what+": not allowed in the consumer cluster", "kubectl bind needs to create Secrets, APIServiceBindings, CRDs and RBAC there; use an admin context")
	case apierrors.IsUnauthorized(err):
		return hinted(err, what+": the consumer cluster does not accept your credentials", "check --kubeconfig and --context")
	case unreachable(err):
		return hinted(err, what+": cannot reach the consumer cluster", "check --kubeconfig and --context, and that the cluster is up")
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func providerError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return hinted(err, what+": the provider refused the returned credentials", "run kubectl bind again; if it persists, tell the provider's operators")
	case unreachable(err):
		return hinted(err, what+": cannot reach the provider's cluster", "the provider's API server may be down; try again later")
	}
	return fmt.Errorf("%s: %w", what, err)
}

// unreachable reports whether err is a failure to reach the server at
// all (refused, no route, unknown host, dial timeout), as opposed to an
// answer from it.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return err != nil && (errors.As(err, &op) || errors.As(err, &dns))
}
