package binding

import (
	"context"
	"fmt"
	"strings"

	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	conditionsapi "github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/apis/conditions/v1alpha1"
	"github.com/kube-bind/kube-bind/sdk/apis/third_party/conditions/util/conditions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/contract"
	"github.com/bindery-dev/bindery/apis/isolation"
	"github.com/bindery-dev/bindery/apis/kubeconfig"
	"github.com/bindery-dev/bindery/konnector/internal/objectsync"
	"github.com/bindery-dev/bindery/konnector/internal/provider"
)

// ensureEngine starts the binding's sync engine, or restarts it when the
// provider connection, the served version or the export's settings
// changed.
func (r *Reconciler) ensureEngine(_ context.Context, st *state) error {
	hasStatus := false
	for _, v := range st.crd.Spec.Versions {
		if v.Storage {
			hasStatus = v.Subresources != nil && v.Subresources.Status != nil
		}
	}
	gvr := storageGVR(st.crd)
	settings, err := contract.ReadExport(st.export.Annotations)
	if err != nil {
		conditions.MarkFalse(st.binding, ConditionSyncing, ReasonInvalidExport, conditionsapi.ConditionSeverityError,
			"APIServiceExport %s: %v; tell the provider's operators", st.export.Name, err)
		return errStop
	}
	strategy, err := isolation.For(st.crd.Spec.Scope, st.export.Spec.ClusterScopedIsolation)
	if err != nil {
		return err // ensureCRD refused it already
	}
	if st.crd.Spec.Scope == apiextensionsv1.ClusterScoped {
		// Claims and namespace scopes concern namespaced objects.
		settings = contract.ExportSettings{}
	}
	if settings.Claims, err = r.acceptedClaims(st, settings.Claims); err != nil {
		return err
	}
	name := st.binding.Name
	namespaces, ok := engineNamespaces(st, settings)
	if !ok {
		r.stopEngine(name, false)
		conditions.MarkFalse(st.binding, ConditionSyncing, ReasonNoNamespace, conditionsapi.ConditionSeverityError,
			"this binding is limited to namespace(s) %s, and serves none of them%s", st.binding.Annotations[binderyv1alpha1.BindingNamespacesAnnotation], notServedBecause(settings))
		return errStop
	}
	settings.Namespaces = namespaces
	var neighbours objectsync.Neighbours
	if st.limited {
		neighbours = bindingNeighbours{r: r, self: st.binding.DeepCopy()}
	}
	key := engineKey(st.conn.ID, gvr, hasStatus, settings, strategy.Mode())
	if !st.wasConnected {
		// The provider is back after an outage. A fresh engine lists
		// again at once, where the old one's informers and retries
		// would wait out their backoff (up to a minute).
		r.stopEngine(name, false)
	}
	r.startEngine(name, key, objectsync.Options{
		Name: name, GVR: gvr, HasStatus: hasStatus,
		Claims: settings.Claims, Namespaces: settings.Namespaces, Neighbours: neighbours,
		Consumer: r.Consumer, Provider: st.conn.Dynamic,
		ClusterNamespace: st.conn.Namespace, ClusterID: r.ClusterID,
		Isolation:  strategy,
		KeepCopies: func() bool { return r.keepCopies(name) },
		Released:   func() { r.wakeIfWaiting(name) },
		Recorder:   r.Recorder, Workers: r.SyncWorkers,
		Log: r.Log.WithValues("binding", name),
	})
	conditions.MarkTrue(st.binding, ConditionSyncing)
	return nil
}

// engineKey is what an engine was started with: the engine restarts
// whenever it changes. The bound on objects is the provider's to enforce
// and not the engine's concern, so a change of it restarts nothing.
func engineKey(connID string, gvr schema.GroupVersionResource, hasStatus bool, settings contract.ExportSettings, mode kubebindv1alpha1.Isolation) string {
	settings.MaxObjects = nil
	return strings.Join([]string{connID, gvr.String(), fmt.Sprint(hasStatus), settings.Key(), string(mode)}, "|")
}

// notServedBecause says why a limited binding serves none of its
// namespaces, when the provider's export is why.
func notServedBecause(export contract.ExportSettings) string {
	if len(export.Namespaces) == 0 {
		return " (see NamespacesBound)"
	}
	return fmt.Sprintf(" the provider offers (it serves this resource only in namespace(s) %s)", strings.Join(export.Namespaces, ", "))
}

// bindingSettings reads the settings kubectl bind and the user recorded on
// the binding; unreadable ones turn Syncing False and stop the reconcile.
func bindingSettings(st *state) (contract.BindingSettings, error) {
	settings, err := contract.ReadBinding(st.binding.Annotations)
	if err != nil {
		conditions.MarkFalse(st.binding, ConditionSyncing, ReasonInvalidBinding, conditionsapi.ConditionSeverityError,
			"%v; fix the annotation (kubectl bind accept-claims %s records the claims again)", err, st.binding.Name)
		return contract.BindingSettings{}, errStop
	}
	return settings, nil
}

// acceptedClaims returns the claims the provider offers that the user
// accepted (recorded on the binding by kubectl bind), and reports the rest
// in ClaimsAccepted: a provider that widens its claims after the bind
// gets nothing more out of, or into, this cluster until the user accepts.
func (r *Reconciler) acceptedClaims(st *state, offered []binderyv1alpha1.PermissionClaim) ([]binderyv1alpha1.PermissionClaim, error) {
	settings, err := bindingSettings(st)
	if err != nil {
		return nil, err
	}
	accepted, pending := settings.Split(offered)
	if len(pending) == 0 {
		conditions.MarkTrue(st.binding, ConditionClaimsAccepted)
		return accepted, nil
	}
	described := make([]string, 0, len(pending))
	for _, c := range pending {
		described = append(described, contract.Describe(c))
	}
	conditions.MarkFalse(st.binding, ConditionClaimsAccepted, ReasonClaimsNotAccepted, conditionsapi.ConditionSeverityWarning,
		"the provider asks for related objects this binding has not accepted (%s); only the accepted ones are copied. "+
			"Review and accept them with: kubectl bind accept-claims %s", strings.Join(described, "; "), st.binding.Name)
	return accepted, nil
}

// runningEngine is one binding's sync engine; key says what it was
// started with, so that a change of connection or version restarts it.
type runningEngine struct {
	key    string
	cancel context.CancelFunc
	done   chan struct{}
}

// startEngine starts the binding's sync engine unless one with the same
// key runs. The engine lives until stopEngine, not as long as a
// reconcile. An engine that stops on an error is forgotten, and the
// binding woken, so that its next reconcile starts a new one.
func (r *Reconciler) startEngine(name, key string, o objectsync.Options) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running == nil {
		r.running = map[string]*runningEngine{}
	}
	if cur, ok := r.running[name]; ok {
		if cur.key == key {
			return
		}
		cur.cancel()
		<-cur.done
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningEngine{key: key, cancel: cancel, done: make(chan struct{})}
	r.running[name] = rs
	go func() {
		defer close(rs.done)
		err := objectsync.New(o).Run(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		o.Log.Error(err, "Sync engine stopped; starting a new one")
		r.mu.Lock()
		if r.running[name] == rs {
			delete(r.running, name)
		}
		r.mu.Unlock()
		r.wakeUp(name)
	}()
}

// stopEngine stops the binding's sync engine and waits until it has
// stopped; with forget, it also drops the binding's provider connection.
func (r *Reconciler) stopEngine(name string, forget bool) {
	r.mu.Lock()
	cur, ok := r.running[name]
	delete(r.running, name)
	if forget {
		delete(r.conns, name)
	}
	r.mu.Unlock()
	if ok {
		cur.cancel()
		<-cur.done
	}
}

// Running returns how many sync engines run, for tests and metrics.
func (r *Reconciler) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.running)
}

// StopAll stops every sync engine; the manager calls it on shutdown.
func (r *Reconciler) StopAll() {
	r.mu.Lock()
	names := make([]string, 0, len(r.running))
	for n := range r.running {
		names = append(names, n)
	}
	r.mu.Unlock()
	for _, n := range names {
		r.stopEngine(n, true)
	}
}

// connect returns the binding's provider connection, reusing the last one
// while the kubeconfig is unchanged, so that a reconcile does not build
// new clients (and rediscover the provider's API) every time.
func (r *Reconciler) connect(binding string, raw []byte, o kubeconfig.ProviderOptions) (*provider.Conn, error) {
	id := provider.ID(raw, o)
	r.mu.Lock()
	cur, ok := r.conns[binding]
	r.mu.Unlock()
	if ok && cur.ID == id {
		return cur, nil
	}
	return provider.Connect(raw, o, r.Limits)
}

// keepConn keeps the binding's provider connection for the next
// reconciles.
func (r *Reconciler) keepConn(binding string, conn *provider.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = map[string]*provider.Conn{}
	}
	r.conns[binding] = conn
}
