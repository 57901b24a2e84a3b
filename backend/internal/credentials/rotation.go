package credentials

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/metrics"
)

// Rotator renews kubeconfig tokens after two thirds of their lifetime, so
// that a konnector has the last third to pick up the new one.
type Rotator struct {
	Issuer *Issuer
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// SetupWithManager wires the rotator to the kubeconfig Secrets it wrote.
func (r *Rotator) SetupWithManager(mgr ctrl.Manager) error {
	managed, err := predicate.LabelSelectorPredicate(metav1.LabelSelector{MatchLabels: map[string]string{ManagedLabel: "true"}})
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("tokenrotation").
		For(&corev1.Secret{}, builder.WithPredicates(managed)).
		Complete(r)
}

// Reconcile renews the token of one kubeconfig Secret when it is due.
func (r *Rotator) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if req.Name != consumer.KubeconfigSecretName {
		return ctrl.Result{}, nil
	}
	secret := &corev1.Secret{}
	if err := r.Issuer.Client.Get(ctx, req.NamespacedName, secret); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	due, ok := renewAt(secret)
	if ok && now.Before(due) {
		return ctrl.Result{RequeueAfter: due.Sub(now)}, nil
	}
	if _, err := r.Issuer.Issue(ctx, secret.Namespace); err != nil {
		metrics.ReconcileErrors.WithLabelValues("tokenrotation").Inc()
		return ctrl.Result{}, fmt.Errorf("renewing the kubeconfig token in %s: %w", secret.Namespace, err)
	}
	ctrl.LoggerFrom(ctx).Info("Renewed the consumer's kubeconfig token", "namespace", secret.Namespace)
	return ctrl.Result{RequeueAfter: r.Issuer.TTL * 2 / 3}, nil
}

// renewAt is two thirds into the token's lifetime; ok is false when the
// Secret does not say.
func renewAt(s *corev1.Secret) (time.Time, bool) {
	issued, err1 := time.Parse(time.RFC3339, s.Annotations[IssuedAnnotation])
	expires, err2 := time.Parse(time.RFC3339, s.Annotations[ExpiresAnnotation])
	if err1 != nil || err2 != nil || !expires.After(issued) {
		return time.Time{}, false
	}
	return issued.Add(expires.Sub(issued) * 2 / 3), true
}
