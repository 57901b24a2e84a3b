// Package clusterhealth marks each consumer's ClusterBinding Healthy or not
// from its konnector's heartbeat.
//
// The konnector writes status.lastHeartbeatTime at the interval it reports
// in status.heartbeatInterval. A binding is Healthy while its last heartbeat
// is younger than one and a half intervals. The reconciler re-checks each
// binding on a timer set for the moment it would turn stale, so that a dead
// konnector is reported Unhealthy within twice the heartbeat interval even
// though nothing changes on the API server.
package clusterhealth

import (
	"context"
	"fmt"
	"sync"
	"time"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindery-dev/bindery/backend/internal/metrics"
)

// Reasons of the Healthy condition.
const (
	ReasonFirstHeartbeatPending = "FirstHeartbeatPending"
	ReasonHeartbeatTimeout      = "HeartbeatTimeout"
	ReasonClockSkew             = "ClockSkew"
)

// staleAfter is how many heartbeat intervals may pass without a heartbeat
// before a binding is unhealthy. It is below 2 so that the re-check timer
// has room to fire within twice the interval.
const staleAfter = 1.5

// Reconciler reconciles the Healthy condition of ClusterBindings.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	// DefaultInterval is assumed when a konnector does not report its
	// heartbeat interval.
	DefaultInterval time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	healthy map[client.ObjectKey]bool
}

// SetupWithManager wires the reconciler.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("clusterhealth").
		For(&kubebindv1alpha1.ClusterBinding{}).
		Complete(r)
}

// Reconcile sets the Healthy condition and schedules the next check.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	binding := &kubebindv1alpha1.ClusterBinding{}
	if err := r.Client.Get(ctx, req.NamespacedName, binding); apierrors.IsNotFound(err) {
		r.count(req.NamespacedName, nil)
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, fmt.Errorf("getting ClusterBinding: %w", err)
	}
	before := binding.DeepCopy()
	wasHealthy := conditions.IsTrue(binding, kubebindv1alpha1.ClusterBindingConditionHealthy)
	cond, recheck := r.health(binding)
	conditions.Set(binding, cond)
	conditions.SetSummary(binding)
	if !equality.Semantic.DeepEqual(before.Status, binding.Status) {
		// Update, not patch: the konnector writes this status too, and
		// a conflict here means its heartbeat came in; check again.
		if err := r.Client.Status().Update(ctx, binding); apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: 100 * time.Millisecond}, nil
		} else if err != nil {
			metrics.ReconcileErrors.WithLabelValues("clusterhealth").Inc()
			return ctrl.Result{}, fmt.Errorf("updating status of ClusterBinding %s/%s: %w", binding.Namespace, binding.Name, err)
		}
		if wasHealthy && cond.Status != corev1.ConditionTrue {
			r.Recorder.Eventf(binding, nil, corev1.EventTypeWarning, cond.Reason, "CheckHeartbeat", "%s", cond.Message)
		} else if !wasHealthy && cond.Status == corev1.ConditionTrue {
			r.Recorder.Eventf(binding, nil, corev1.EventTypeNormal, "Healthy", "CheckHeartbeat", "%s", cond.Message)
		}
	}
	healthy := cond.Status == corev1.ConditionTrue
	r.count(req.NamespacedName, &healthy)
	return ctrl.Result{RequeueAfter: recheck}, nil
}

// health computes the Healthy condition and when to check again.
func (r *Reconciler) health(b *kubebindv1alpha1.ClusterBinding) (*conditionsapi.Condition, time.Duration) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	interval := b.Status.HeartbeatInterval.Duration
	if interval <= 0 {
		interval = r.DefaultInterval
	}
	version := b.Status.KonnectorVersion
	if version == "" {
		version = "unknown"
	}
	last := b.Status.LastHeartbeatTime.Time
	deadline := last.Add(time.Duration(staleAfter * float64(interval)))
	switch {
	case last.IsZero():
		return conditions.FalseCondition(kubebindv1alpha1.ClusterBindingConditionHealthy, ReasonFirstHeartbeatPending, conditionsapi.ConditionSeverityInfo,
			"waiting for the first heartbeat of the konnector in the consumer cluster"), 0
	case last.After(now.Add(interval)):
		return conditions.FalseCondition(kubebindv1alpha1.ClusterBindingConditionHealthy, ReasonClockSkew, conditionsapi.ConditionSeverityWarning,
			"the last heartbeat (%s) is in the future: the clocks of the consumer and provider clusters differ by more than the heartbeat interval %s",
			last.UTC().Format(time.RFC3339), interval), interval
	case now.After(deadline):
		return conditions.FalseCondition(kubebindv1alpha1.ClusterBindingConditionHealthy, ReasonHeartbeatTimeout, conditionsapi.ConditionSeverityError,
			"no heartbeat since %s although konnector %s promised one every %s; check the konnector in the consumer cluster",
			last.UTC().Format(time.RFC3339), version, interval), 0
	default:
		c := conditions.TrueCondition(kubebindv1alpha1.ClusterBindingConditionHealthy)
		c.Message = fmt.Sprintf("konnector %s sends a heartbeat every %s", version, interval)
		// Wake up just after the deadline; a heartbeat before then
		// triggers a reconcile anyway.
		return c, deadline.Sub(now) + 100*time.Millisecond
	}
}

// count records a binding's health (nil when it is gone) and updates the
// bound consumers metric.
func (r *Reconciler) count(key client.ObjectKey, healthy *bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.healthy == nil {
		r.healthy = map[client.ObjectKey]bool{}
	}
	if healthy == nil {
		delete(r.healthy, key)
	} else {
		r.healthy[key] = *healthy
	}
	n := 0
	for _, h := range r.healthy {
		if h {
			n++
		}
	}
	metrics.BoundConsumers.WithLabelValues("healthy").Set(float64(n))
	metrics.BoundConsumers.WithLabelValues("unhealthy").Set(float64(len(r.healthy) - n))
}
