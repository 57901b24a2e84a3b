package credentials

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/bindery-dev/bindery/backend/internal/access"
	"github.com/bindery-dev/bindery/backend/internal/consumer"
	"github.com/bindery-dev/bindery/backend/internal/metrics"
)

// RenewalStoppedAnnotation, on a kubeconfig Secret, says why its token is
// no longer renewed. The next renewal or bind removes it.
const RenewalStoppedAnnotation = "bindery.dev/renewal-stopped"

// Reasons renewals stop, as Event reasons and metric labels.
const (
	ReasonNotAllowed = "NotAllowed"
	ReasonSilent     = "Silent"
)

// recheckStopped is how often a consumer whose renewal stopped is checked
// again: its konnector may come back, or the allow-lists change.
const recheckStopped = 10 * time.Minute

// Rotator renews kubeconfig tokens after two thirds of their lifetime, so
// that a konnector has the last third to pick up the new one. It renews
// only while the consumer is still allowed: the allow-lists hold for the
// user recorded at its last bind, and its konnector's heartbeat was seen
// within GracePeriod. Otherwise the token runs out, and the Secret and an
// Event on the ClusterBinding say why.
type Rotator struct {
	Issuer *Issuer
	// Allowed is who may bind (--oidc-allowed-users, --oidc-allowed-groups).
	// Consumers an operator onboarded (consumer.OperatorIssuer) are not
	// subject to it.
	Allowed access.AllowList
	// GracePeriod is how long a consumer's konnector may stay silent
	// before its token is no longer renewed; 0 renews regardless.
	GracePeriod time.Duration
	Recorder    events.EventRecorder
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

// Reconcile renews the token of one kubeconfig Secret when it is due and
// the consumer is still allowed.
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
	reason, why, err := r.refusal(ctx, secret.Namespace, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if reason != "" {
		return ctrl.Result{RequeueAfter: recheckStopped}, r.reportStopped(ctx, secret, reason, why)
	}
	if _, err := r.Issuer.Issue(ctx, secret.Namespace); err != nil {
		metrics.ReconcileErrors.WithLabelValues("tokenrotation").Inc()
		return ctrl.Result{}, fmt.Errorf("renewing the kubeconfig token in %s: %w", secret.Namespace, err)
	}
	ctrl.LoggerFrom(ctx).Info("Renewed the consumer's kubeconfig token", "namespace", secret.Namespace)
	return ctrl.Result{RequeueAfter: r.Issuer.TTL * 2 / 3}, nil
}

// refusal says why the consumer of a cluster namespace may not have its
// token renewed, or nothing.
func (r *Rotator) refusal(ctx context.Context, namespace string, now time.Time) (reason, why string, err error) {
	ns := &corev1.Namespace{}
	if err := r.Issuer.Client.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return "", "", fmt.Errorf("reading namespace %s: %w", namespace, err)
	}
	a := ns.Annotations
	if a[consumer.IssuerAnnotation] != consumer.OperatorIssuer {
		var groups []string
		_ = json.Unmarshal([]byte(a[consumer.GroupsAnnotation]), &groups) // absent: no groups
		if !r.Allowed.Allows(a[consumer.SubjectAnnotation], a[consumer.NameAnnotation], groups) {
			return ReasonNotAllowed, fmt.Sprintf("the token is no longer renewed: user %s is no longer allowed to bind (--oidc-allowed-users, --oidc-allowed-groups)", a[consumer.SubjectAnnotation]), nil
		}
	}
	if r.GracePeriod <= 0 {
		return "", "", nil
	}
	last := ns.CreationTimestamp.Time
	cb := &kubebindv1alpha1.ClusterBinding{}
	if err := r.Issuer.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: consumer.ClusterBindingName}, cb); client.IgnoreNotFound(err) != nil {
		return "", "", fmt.Errorf("reading the ClusterBinding of %s: %w", namespace, err)
	}
	if hb := cb.Status.LastHeartbeatTime.Time; !hb.IsZero() {
		last = hb // else never heard from: silent since it was onboarded
	}
	if now.Sub(last) > r.GracePeriod {
		return ReasonSilent, fmt.Sprintf("the token is no longer renewed: no heartbeat from the konnector since %s, longer than the grace period %s", last.UTC().Format(time.RFC3339), r.GracePeriod), nil
	}
	return "", "", nil
}

// reportStopped records on the Secret, once per reason, why its token is
// not renewed, with an Event on the ClusterBinding and a metric.
func (r *Rotator) reportStopped(ctx context.Context, secret *corev1.Secret, reason, why string) error {
	if secret.Annotations[RenewalStoppedAnnotation] == why {
		return nil
	}
	patch := client.MergeFrom(secret.DeepCopy())
	if secret.Annotations == nil {
		secret.Annotations = map[string]string{}
	}
	secret.Annotations[RenewalStoppedAnnotation] = why
	if err := r.Issuer.Client.Patch(ctx, secret, patch); err != nil {
		return fmt.Errorf("recording the stopped renewal on Secret %s/%s: %w", secret.Namespace, secret.Name, err)
	}
	metrics.RenewalsStopped.WithLabelValues(reason).Inc()
	ctrl.LoggerFrom(ctx).Info("Stopped renewing the consumer's token", "namespace", secret.Namespace, "reason", reason, "message", why)
	if r.Recorder != nil {
		cb := &kubebindv1alpha1.ClusterBinding{ObjectMeta: metav1.ObjectMeta{Namespace: secret.Namespace, Name: consumer.ClusterBindingName}}
		if err := r.Issuer.Client.Get(ctx, client.ObjectKeyFromObject(cb), cb); err == nil {
			r.Recorder.Eventf(cb, nil, corev1.EventTypeWarning, reason, "RenewToken", "%s", why)
		}
	}
	return nil
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
