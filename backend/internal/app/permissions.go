package app

import (
	"context"
	"fmt"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Permission is something the backend does on the provider cluster: a
// verb on a resource, in every namespace unless Own.
type Permission struct {
	Verb, Group, Resource string
	// Own limits it to the backend's own namespace (leader election's).
	Own bool
}

func (p Permission) String() string {
	r := p.Resource
	if p.Group != "" {
		r += "." + p.Group
	}
	if p.Own {
		return p.Verb + " " + r + " in its namespace"
	}
	return p.Verb + " " + r
}

// RequiredPermissions are what the backend needs whatever it exports; it
// needs the exported resources and claimed kinds too, which it finds out
// only as templates come. charts/backend's ClusterRole grants all of these,
// which a test checks.
var RequiredPermissions = func() []Permission {
	var ps []Permission
	all := func(group string, verbs []string, resources ...string) {
		for _, r := range resources {
			for _, v := range verbs {
				ps = append(ps, Permission{Verb: v, Group: group, Resource: r})
			}
		}
	}
	rw := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	status := []string{"get", "update", "patch"}
	all("apiextensions.k8s.io", []string{"get", "list", "watch", "create"}, "customresourcedefinitions")
	all("bindery.dev", []string{"get", "list", "watch"}, "apiserviceexporttemplates")
	all("bindery.dev", status, "apiserviceexporttemplates/status")
	all("kube-bind.io", rw, "apiserviceexports", "apiserviceexportrequests", "apiservicenamespaces", "clusterbindings")
	all("kube-bind.io", status, "apiserviceexports/status", "apiserviceexportrequests/status", "apiservicenamespaces/status", "clusterbindings/status")
	all("", rw, "namespaces", "serviceaccounts", "secrets", "resourcequotas")
	all("", []string{"create"}, "serviceaccounts/token")
	all("", []string{"update"}, "resourcequotas/status")
	all("rbac.authorization.k8s.io", rw, "roles", "rolebindings", "clusterroles", "clusterrolebindings")
	all("admissionregistration.k8s.io", rw, "validatingadmissionpolicies", "validatingadmissionpolicybindings")
	all("", []string{"create", "patch"}, "events")
	// The metrics endpoint authenticates and authorizes its callers.
	all("authentication.k8s.io", []string{"create"}, "tokenreviews")
	all("authorization.k8s.io", []string{"create"}, "subjectaccessreviews")
	return ps
}()

// LeaderElectionPermissions are what leader election needs in its
// namespace.
var LeaderElectionPermissions = []Permission{
	{Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Own: true},
	{Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Own: true},
	{Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Own: true},
}

// CheckPermissions asks the API server, for each of perms, whether the
// backend may do it, and returns an error naming every one it may not.
func CheckPermissions(ctx context.Context, kube kubernetes.Interface, namespace string, perms []Permission) error {
	var missing []string
	for _, p := range perms {
		group, sub, _ := strings.Cut(p.Resource, "/")
		ra := &authorizationv1.ResourceAttributes{Verb: p.Verb, Group: p.Group, Resource: group, Subresource: sub}
		if p.Own {
			ra.Namespace = namespace
		}
		review, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx,
			&authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: ra}}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("checking the backend's permissions: %w", err)
		}
		if !review.Status.Allowed {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the backend's identity lacks %d permission(s) it needs: it may not %s; grant them (charts/backend's ClusterRole does, see docs/install.md)",
			len(missing), strings.Join(missing, ", "))
	}
	return nil
}
