package clusterobjects

import (
	"context"
	"fmt"
	"slices"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/apis/isolation"
)

// Granted reports whether the konnector of export's consumer (its
// namespace is the consumer's cluster namespace) may write the export's
// objects yet. Objects granted by name (a cluster-scoped resource under
// Prefixed or None isolation) may be once the consumer's ClusterRole
// covers the resource: by create, which the grant gives only policyGrace
// after the admission policy first covers the resource, or by the names
// of the objects the consumer has, while create is withdrawn at its
// bound. Other exports are granted with the consumer's namespace.
func Granted(ctx context.Context, c client.Reader, export *kubebindv1alpha1.APIServiceExport) (bool, error) {
	if grantOf(*export).Scope != isolation.ByName {
		return true, nil
	}
	role := &rbacv1.ClusterRole{}
	if err := c.Get(ctx, client.ObjectKey{Name: RoleName(export.Namespace)}, role); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("getting the cluster-scoped objects grant of %s: %w", export.Namespace, err)
	}
	return slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
		return slices.Contains(r.APIGroups, export.Spec.Group) && slices.Contains(r.Resources, export.Spec.Names.Plural)
	}), nil
}
