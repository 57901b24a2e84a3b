// Package exportrequest turns each APIServiceExportRequest into
// APIServiceExports holding snapshots of the requested CRDs, after checking
// the request against what the provider offers.
package exportrequest

import (
	"context"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
)

// Reconciler reconciles APIServiceExportRequests.
type Reconciler struct {
	Client client.Client
	// APIReader reads from the API server, not the cache: a request is
	// refused only as the API server has the catalogue.
	APIReader client.Reader
	Recorder  events.EventRecorder
}

// SetupWithManager wires the reconciler. A request still Pending is
// retried when a template or CRD changes, so a request for a CRD that
// appears a moment later succeeds without a fixed timeout, and when its
// consumer's grant of cluster-scoped objects changes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	pending := func(namespace func(client.Object) string) handler.EventHandler {
		return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
			list := &kubebindv1alpha1.APIServiceExportRequestList{}
			if err := r.Client.List(ctx, list, client.InNamespace(namespace(obj))); err != nil {
				return nil
			}
			var out []reconcile.Request
			for _, req := range list.Items {
				if req.Status.Phase == "" || req.Status.Phase == kubebindv1alpha1.APIServiceExportRequestPhasePending {
					out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&req)})
				}
			}
			return out
		})
	}
	anywhere := func(client.Object) string { return "" }
	return ctrl.NewControllerManagedBy(mgr).
		Named("exportrequest").
		For(&kubebindv1alpha1.APIServiceExportRequest{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&binderyv1alpha1.APIServiceExportTemplate{}, pending(anywhere)).
		Watches(&apiextensionsv1.CustomResourceDefinition{}, pending(anywhere)).
		// The grant names its consumer's cluster namespace in a label;
		// other ClusterRoles retry nothing.
		Watches(&rbacv1.ClusterRole{}, pending(func(obj client.Object) string { return obj.GetLabels()[consumer.ClusterNamespaceLabel] }),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(obj client.Object) bool { return obj.GetLabels()[consumer.ClusterNamespaceLabel] != "" }))).
		Complete(r)
}
