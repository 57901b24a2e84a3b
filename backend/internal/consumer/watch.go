package consumer

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// What controllers of consumers' cluster namespaces share.

// ClusterNamespaces selects the cluster namespaces of consumers.
var ClusterNamespaces = predicate.NewPredicateFuncs(func(o client.Object) bool {
	return o.GetLabels()[RoleLabel] == RoleCluster
})

// EnqueueNamespace maps an object to its namespace, for a controller of
// namespaces that watches what they hold.
var EnqueueNamespace = handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: o.GetNamespace()}}}
})

// LiveClusterNamespace returns the namespace named name when it is a
// consumer's cluster namespace and not being deleted.
func LiveClusterNamespace(ctx context.Context, c client.Reader, name string) (*corev1.Namespace, bool, error) {
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		if client.IgnoreNotFound(err) == nil {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("getting namespace %s: %w", name, err)
	}
	return ns, ns.Labels[RoleLabel] == RoleCluster && ns.DeletionTimestamp == nil, nil
}
