// Package clustergrant keeps each consumer's grant and bounds in its
// cluster namespace current: the konnector's Role and RoleBinding and the
// namespace's ResourceQuota (onboarding.EnsureGrant).
//
// Onboarding writes them at every bind; this controller writes them for
// every consumer when the backend starts, and again whenever someone
// changes or deletes them, so that a backend upgrade that narrows a grant
// or adds a bound reaches consumers who do not bind again, and a grant
// widened by hand is put back.
package clustergrant

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
	"github.com/bindery-dev/bindery/backend/internal/rbacgrant"
)

// Reconciler keeps the grant of one cluster namespace.
type Reconciler struct {
	Client client.Client
	// APIReader reads without a cache, to count what the quota limits;
	// mgr.GetAPIReader().
	APIReader client.Reader
}

// SetupWithManager wires the reconciler: every consumer cluster namespace,
// and the Roles, RoleBindings and ResourceQuotas of that name in them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	named := func(name string) predicate.Predicate {
		return predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == name })
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("clustergrant").
		For(&corev1.Namespace{}, builder.WithPredicates(consumer.ClusterNamespaces)).
		Watches(&rbacv1.Role{}, consumer.EnqueueNamespace, builder.WithPredicates(named(rbacgrant.KonnectorRoleName))).
		Watches(&rbacv1.RoleBinding{}, consumer.EnqueueNamespace, builder.WithPredicates(named(rbacgrant.KonnectorRoleName))).
		// Not the quota's status, which changes with every object it counts.
		Watches(&corev1.ResourceQuota{}, consumer.EnqueueNamespace, builder.WithPredicates(named(consumer.QuotaName), predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				return !equality.Semantic.DeepEqual(e.ObjectOld.(*corev1.ResourceQuota).Spec, e.ObjectNew.(*corev1.ResourceQuota).Spec)
			},
		})).
		Complete(r)
}

// Reconcile ensures the grant of a live consumer cluster namespace.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	_, live, err := consumer.LiveClusterNamespace(ctx, r.Client, req.Name)
	if err != nil || !live {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, onboarding.EnsureGrant(ctx, r.Client, r.APIReader, req.Name)
}
