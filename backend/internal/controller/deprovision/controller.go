// Package deprovision removes a consumer cluster from the provider once
// its last binding is gone: when its cluster namespace has held no
// APIServiceExport and no APIServiceExportRequest for a grace period, the
// namespace is deleted. With it go the ServiceAccount (so every token of
// the consumer stops working), the kubeconfig Secret, the ClusterBinding,
// the Roles and APIServiceNamespaces (whose finalizer removes their
// service namespaces), and, through owner references, its ClusterRoles and
// ClusterRoleBindings.
//
// The grace period lets a consumer that unbinds and binds again, or whose
// first request is still on its way, keep its namespace.
package deprovision

import (
	"context"
	"fmt"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/metrics"
	"github.com/bindery-dev/bindery/backend/internal/onboarding"
)

// UnusedSinceAnnotation, on a cluster namespace, is when it was first seen
// without any export or export request (RFC 3339).
const UnusedSinceAnnotation = "bindery.dev/unused-since"

// Reconciler deprovisions consumer clusters without bindings.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// After is the grace period.
	After time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// SetupWithManager wires the reconciler to cluster namespaces and to what
// is bound in them.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("deprovision").
		For(&corev1.Namespace{}, builder.WithPredicates(consumer.ClusterNamespaces)).
		Watches(&kubebindv1alpha1.APIServiceExport{}, consumer.EnqueueNamespace).
		Watches(&kubebindv1alpha1.APIServiceExportRequest{}, consumer.EnqueueNamespace).
		Complete(r)
}

// Reconcile marks a cluster namespace unused, or used again, and deletes
// it once it has been unused for the grace period.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ns, live, err := consumer.LiveClusterNamespace(ctx, r.Client, req.Name)
	if err != nil || !live {
		return ctrl.Result{}, err
	}
	used, err := onboarding.Bound(ctx, r.Client, ns.Name)
	if err != nil {
		return ctrl.Result{}, err
	}
	since, marked := unusedSince(ns)
	switch {
	case used && marked:
		return ctrl.Result{}, r.mark(ctx, ns, nil)
	case used:
		return ctrl.Result{}, nil
	case !marked:
		now := r.now()
		return ctrl.Result{RequeueAfter: r.After}, r.mark(ctx, ns, &now)
	}
	if left := since.Add(r.After).Sub(r.now()); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	return ctrl.Result{}, r.deprovision(ctx, ns, since)
}

func unusedSince(ns *corev1.Namespace) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, ns.Annotations[UnusedSinceAnnotation])
	return t, err == nil
}

// mark sets the unused-since annotation to since, or removes it (nil).
func (r *Reconciler) mark(ctx context.Context, ns *corev1.Namespace, since *time.Time) error {
	patch := client.MergeFrom(ns.DeepCopy())
	if since == nil {
		delete(ns.Annotations, UnusedSinceAnnotation)
	} else {
		if ns.Annotations == nil {
			ns.Annotations = map[string]string{}
		}
		ns.Annotations[UnusedSinceAnnotation] = since.UTC().Format(time.RFC3339)
	}
	if err := r.Client.Patch(ctx, ns, patch); err != nil {
		return fmt.Errorf("marking namespace %s: %w", ns.Name, err)
	}
	return nil
}

// deprovision deletes the cluster namespace, unless it changed since it
// was read (a bind in between).
func (r *Reconciler) deprovision(ctx context.Context, ns *corev1.Namespace, since time.Time) error {
	err := r.Client.Delete(ctx, ns, client.Preconditions{UID: &ns.UID, ResourceVersion: &ns.ResourceVersion})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil // changed or gone; a new event brings it back if needed
	}
	if err != nil {
		return fmt.Errorf("deleting namespace %s: %w", ns.Name, err)
	}
	metrics.Deprovisioned.Inc()
	ctrl.LoggerFrom(ctx).Info("Deprovisioned a consumer cluster without bindings", "namespace", ns.Name, "unusedSince", since)
	r.Recorder.Eventf(ns, nil, corev1.EventTypeNormal, "Deprovisioned", "Deprovision",
		"no binding since %s, longer than %s: deleted the consumer's namespace, ServiceAccount, credentials and grants", since.UTC().Format(time.RFC3339), r.After)
	return nil
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
