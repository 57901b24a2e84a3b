package objectsync

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/bindery-dev/bindery/apis/isolation"
)

// Watches turn the events of both clusters into Requests. They start when
// the engine starts, or from event handlers: when the backend assigns a
// consumer namespace its provider namespace, and, for copies a konnector
// may read only by name, when a consumer object appears. Reads never
// start one.

// queue is the engine's work queue, as its controller hands it to sources.
type queue = workqueue.TypedRateLimitingInterface[Request]

// bindingSource is the engine's first source: the consumer's objects and
// the consumer's APIServiceNamespaces on the provider. The controller
// waits for both caches before it starts its workers.
func (e *Engine) bindingSource() source.TypedSource[Request] {
	return &informerSource{name: "binding " + e.o.Name, start: e.startBindingWatches}
}

func (e *Engine) startBindingWatches(q queue) ([]cache.InformerSynced, error) {
	cf := dynamicinformer.NewDynamicSharedInformerFactory(e.consumerClient, 0)
	e.consumerInformer = cf.ForResource(e.o.GVR).Informer()
	if err := e.consumerInformer.SetTransform(cacheConsumerObject); err != nil {
		return nil, err
	}
	e.consumerObjects = cache.NewIntegerResourceVersionMutationCache(e.o.Log, e.consumerInformer.GetStore(), e.consumerInformer.GetIndexer(), mutationTTL, false)
	for i, c := range e.o.Claims {
		cs, err := newClaimSync(e, i, c, q)
		if err != nil {
			return nil, err
		}
		if c.Selector.Reference != nil {
			if err := e.consumerInformer.AddIndexers(cache.Indexers{cs.refIndex(): cs.references}); err != nil {
				return nil, fmt.Errorf("indexing claim references: %w", err)
			}
		}
		e.claims = append(e.claims, cs)
	}
	if _, err := e.consumerInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { e.consumerChanged(q, obj) },
		UpdateFunc: func(old, obj any) {
			e.consumerChanged(q, obj)
			for _, c := range e.claims {
				c.enqueueReferenced(old)
			}
		},
		DeleteFunc: func(obj any) {
			e.consumerDeleted(obj)
			e.consumerChanged(q, obj)
		},
	}); err != nil {
		return nil, fmt.Errorf("watching consumer %s: %w", e.o.GVR.Resource, err)
	}

	pf := dynamicinformer.NewFilteredDynamicSharedInformerFactory(e.o.Provider, 0, e.o.ClusterNamespace, nil)
	asn := pf.ForResource(APIServiceNamespaces).Informer()
	e.serviceNamespaces = &serviceNamespaces{clusterNamespace: e.o.ClusterNamespace, informer: asn}
	if _, err := asn.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { e.namespaceAssigned(q, obj) },
		UpdateFunc: func(_, obj any) { e.namespaceAssigned(q, obj) },
	}); err != nil {
		return nil, fmt.Errorf("watching APIServiceNamespaces: %w", err)
	}
	e.informers.start(e.ctx, cf)
	e.informers.start(e.ctx, pf)
	e.o.Log.V(1).Info("Sync engine started", "resource", e.o.GVR.String(), "isolation", e.o.Isolation.Mode())
	return []cache.InformerSynced{e.consumerInformer.HasSynced, asn.HasSynced}, nil
}

// consumerChanged enqueues a consumer object and what its claims select,
// and watches its copy when the konnector may read copies only by name.
func (e *Engine) consumerChanged(q queue, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(metav1.Object)
	if !ok {
		return
	}
	key := cache.MetaObjectToName(u)
	if e.servedElsewhere(key.Namespace) {
		return
	}
	if e.copiesIn() == isolation.ByName && u.GetDeletionTimestamp() == nil {
		if pkey, err := e.o.Isolation.ToProvider(e.consumer(), key.AsNamespacedName()); err == nil {
			e.watchProvider("", pkey.Name, nil) // placement does not wait for it
		}
	}
	e.down.observe(key.String())
	q.Add(objectRequest(key))
	for _, c := range e.claims {
		c.enqueueReferenced(obj)
	}
}

// namespaceAssigned watches the provider namespace the backend assigned a
// consumer namespace, and enqueues the consumer namespace's objects, which
// waited for it.
func (e *Engine) namespaceAssigned(q queue, obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	pns := assignedNamespace(u)
	if pns == "" || e.copiesIn() != isolation.InServiceNamespace || !e.coversNamespace(u.GetName()) {
		return
	}
	e.watchProvider(pns, "", func(q queue) { e.namespaceChanged(q, u.GetName()) })
	for _, c := range e.claims {
		c.watchNamespace(u.GetName(), pns, u.GetAnnotations())
	}
	e.namespaceChanged(q, u.GetName())
}

// namespaceChanged enqueues the objects of consumer namespace ns.
func (e *Engine) namespaceChanged(q queue, ns string) {
	objs, err := e.consumerInformer.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		return
	}
	for _, o := range objs {
		e.consumerChanged(q, o)
	}
}

// copyChanged enqueues the consumer object a provider copy comes from.
func (e *Engine) copyChanged(q queue, obj any) {
	key, _, ok := originOf(obj)
	if !ok {
		return
	}
	e.up.observe(key.String())
	r := objectRequest(key)
	e.lanes.preferUp(r)
	q.Add(r)
}

// providerWatches are the engine's informers of provider copies: one per
// provider namespace, or one per copy that may be read only by name.
type providerWatches struct {
	mu    sync.Mutex
	byKey map[string]*providerWatch
}

type providerWatch struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
	// synced is set once the engine's handler has seen every copy the
	// watch found when it started.
	synced atomic.Bool
}

// watchKey is the key of the watch of namespace pns, or of the one
// cluster-scoped copy named name.
func watchKey(pns, name string) string {
	if name != "" {
		return "object/" + name
	}
	return pns
}

// watchProvider starts, once, the provider informer of the copies in
// namespace pns, or of the one cluster-scoped copy named name, as a source
// of the engine's controller; once it has seen every copy there is, it
// calls waiting, if any, which enqueues the consumer objects whose syncs
// waited for it (placement). It must not be called from a source's Start, which
// runs under the controller's lock.
func (e *Engine) watchProvider(pns, name string, waiting func(queue)) {
	key := watchKey(pns, name)
	e.providers.mu.Lock()
	if _, ok := e.providers.byKey[key]; ok {
		e.providers.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(e.ctx)
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(e.o.Provider, 0, pns, func(lo *metav1.ListOptions) {
		lo.LabelSelector = labels.Set{ManagedByLabel: ManagedByValue}.String()
		if name != "" {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	})
	inf := f.ForResource(e.o.GVR).Informer()
	_ = inf.SetTransform(cacheCopy) // cannot fail: not started
	if e.providers.byKey == nil {
		e.providers.byKey = map[string]*providerWatch{}
	}
	w := &providerWatch{informer: inf, cancel: cancel}
	e.providers.byKey[key] = w
	e.providers.mu.Unlock()

	err := e.controller.Watch(source.TypedFunc[Request](func(_ context.Context, q queue) error {
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { e.copyChanged(q, obj) },
			UpdateFunc: func(_, obj any) { e.copyChanged(q, obj) },
			DeleteFunc: func(obj any) {
				e.created.forget(obj)
				e.gone.remember(obj)
				e.copyChanged(q, obj)
			},
		})
		if err != nil {
			return err
		}
		e.informers.start(ctx, f)
		e.informers.afterSync(ctx, reg.HasSynced, func() {
			w.synced.Store(true)
			if waiting != nil {
				waiting(q)
			}
		})
		return nil
	}))
	if err != nil && e.ctx.Err() == nil {
		e.o.Log.Error(err, "Cannot watch provider copies", "namespace", pns, "name", name)
	}
}

// copiesWatched reports whether the copies in pns are watched and their
// watch has seen every copy there is (until then a copy missing from its
// cache may still exist), or whether the cluster-scoped copy named name is
// watched: a copy readable only by name may be listed only once it
// exists and the backend has granted it, so its watch cannot see it
// before the konnector creates it.
func (e *Engine) copiesWatched(pns, name string) bool {
	e.providers.mu.Lock()
	defer e.providers.mu.Unlock()
	w, ok := e.providers.byKey[watchKey(pns, name)]
	return ok && (name != "" || w.synced.Load())
}

// providerInformer returns the informer of the copies in pns, or of the
// cluster-scoped copy named name, if watched.
func (e *Engine) providerInformer(pns, name string) (cache.SharedIndexInformer, bool) {
	e.providers.mu.Lock()
	defer e.providers.mu.Unlock()
	w, ok := e.providers.byKey[watchKey(pns, name)]
	if !ok {
		return nil, false
	}
	return w.informer, true
}

// unwatchCopy stops the informer of a cluster-scoped copy whose consumer
// object is gone.
func (e *Engine) unwatchCopy(name string) {
	e.providers.mu.Lock()
	defer e.providers.mu.Unlock()
	if w, ok := e.providers.byKey[watchKey("", name)]; ok {
		w.cancel()
		delete(e.providers.byKey, watchKey("", name))
	}
}

// informerSource is a controller source whose start function adds event
// handlers to informers and starts them; the controller waits for the
// informers it returns to sync.
type informerSource struct {
	name   string
	start  func(queue) ([]cache.InformerSynced, error)
	synced []cache.InformerSynced
}

func (s *informerSource) Start(_ context.Context, q queue) error {
	synced, err := s.start(q)
	s.synced = synced
	return err
}

func (s *informerSource) WaitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return fmt.Errorf("waiting for the caches of %s: %w", s.name, ctx.Err())
	}
	return nil
}

func (s *informerSource) String() string { return s.name }

// informerGroup starts informer factories and waits for all of them to
// stop.
type informerGroup struct{ wg sync.WaitGroup }

// activeInformers counts the informer factories of all engines that run.
var activeInformers atomic.Int64

// ActiveInformers returns how many informers all engines run; it goes back
// to zero when every binding is gone.
func ActiveInformers() int64 { return activeInformers.Load() }

// start starts an informer factory until ctx ends, and counts it.
func (g *informerGroup) start(ctx context.Context, f dynamicinformer.DynamicSharedInformerFactory) {
	activeInformers.Add(1)
	f.Start(ctx.Done())
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		<-ctx.Done()
		f.Shutdown()
		activeInformers.Add(-1)
	}()
}

// afterSync calls f once synced reports true, unless ctx ends first.
func (g *informerGroup) afterSync(ctx context.Context, synced cache.InformerSynced, f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if cache.WaitForCacheSync(ctx.Done(), synced) {
			f()
		}
	}()
}

func (g *informerGroup) wait() { g.wg.Wait() }
