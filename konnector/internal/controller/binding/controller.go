// Package binding reconciles APIServiceBindings in the consumer cluster:
// it connects to the provider with the binding's kubeconfig, installs the
// CRD from the APIServiceExport of the same name, keeps the provider's
// ClusterBinding heartbeat, and runs one objectsync.Engine per binding for
// as long as the binding exists.
package binding

import (
	"context"
	gosync "sync"
	"time"

	"github.com/go-logr/logr"
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/bindery-dev/bindery/konnector/internal/provider"
)

// Reconciler reconciles APIServiceBindings.
type Reconciler struct {
	Client   client.Client
	Consumer dynamic.Interface
	Recorder events.EventRecorder
	// ClusterID identifies this consumer cluster on providers.
	ClusterID string
	// Version is the konnector's version, reported in heartbeats.
	Version string
	// HeartbeatInterval is used unless the provider asks for another one.
	HeartbeatInterval time.Duration
	Limits            provider.Limits
	SyncWorkers       int
	Log               logr.Logger

	mu      gosync.Mutex
	running map[string]*runningEngine
	conns   map[string]*provider.Conn
	// wake carries bindings to reconcile now, e.g. an unbinding binding
	// whose sync engine released an object.
	wake chan event.TypedGenericEvent[*kubebindv1alpha1.APIServiceBinding]
}

// wakeIfWaiting wakes a binding that waits for its objects to be
// released: an unbinding one, or one giving up a namespace that still
// holds objects. Other bindings are not woken: a reconcile reads from the
// provider, and deleting many objects would cost as many reads.
func (r *Reconciler) wakeIfWaiting(name string) {
	b := &kubebindv1alpha1.APIServiceBinding{}
	if err := r.Client.Get(context.Background(), client.ObjectKey{Name: name}, b); err != nil {
		return
	}
	if b.DeletionTimestamp.IsZero() && conditions.GetReason(b, ConditionNamespacesBound) != ReasonNamespaceInUse {
		return
	}
	r.wakeUp(name)
}

// wakeUp asks for a reconcile of the binding without blocking; the
// periodic requeue is the fallback when the channel is full.
func (r *Reconciler) wakeUp(name string) {
	select {
	case r.wake <- event.TypedGenericEvent[*kubebindv1alpha1.APIServiceBinding]{Object: &kubebindv1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}}:
	default:
	}
}

// SetupWithManager wires the reconciler: bindings, the Secrets they
// reference and the CRDs they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	bySecret := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		list := &kubebindv1alpha1.APIServiceBindingList{}
		if err := r.Client.List(ctx, list); err != nil {
			return nil
		}
		var out []reconcile.Request
		for _, b := range list.Items {
			ref := b.Spec.KubeconfigSecretRef
			if ref.Namespace == obj.GetNamespace() && ref.Name == obj.GetName() {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: b.Name}})
			}
		}
		return out
	})
	r.wake = make(chan event.TypedGenericEvent[*kubebindv1alpha1.APIServiceBinding], 100)
	return ctrl.NewControllerManagedBy(mgr).
		Named("apiservicebinding").
		For(&kubebindv1alpha1.APIServiceBinding{}).
		Owns(&apiextensionsv1.CustomResourceDefinition{}, builder.MatchEveryOwner).
		Watches(&corev1.Secret{}, bySecret).
		WatchesRawSource(source.Channel(r.wake, &handler.TypedEnqueueRequestForObject[*kubebindv1alpha1.APIServiceBinding]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Complete(r)
}
