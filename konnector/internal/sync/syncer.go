// Package sync moves objects of one bound resource between a consumer
// cluster and the provider: spec down, status up.
//
// The consumer object is the source of truth for spec, labels and
// annotations. Its provider copy lives in the provider namespace that the
// backend assigns to the consumer namespace through an APIServiceNamespace.
// The copy is created, then kept with server-side apply under one field
// manager, so fields that provider-side controllers own are never
// clobbered. Status flows back whole. A finalizer keeps the consumer object
// until the copy is really gone, so provider-side finalizers (Crossplane
// deleting a cloud resource) finish first.
//
// A Syncer lives as long as its binding: Run starts informers on both
// clusters and a bounded, rate-limited work queue, and stops them all when
// its context ends.
package sync

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	kubebindv1alpha1 "github.com/kube-bind/kube-bind/sdk/apis/kubebind/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/csaupgrade"
	"k8s.io/client-go/util/workqueue"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/providername"
)

// APIServiceNamespaces is the kube-bind resource that maps a consumer
// namespace to its provider namespace.
var APIServiceNamespaces = kubebindv1alpha1.SchemeGroupVersion.WithResource("apiservicenamespaces")

// Options configure a Syncer.
type Options struct {
	// Name names the syncer in logs and metrics (the binding's name).
	Name string
	// GVR is the resource, at the version both clusters serve.
	GVR schema.GroupVersionResource
	// HasStatus says whether the resource has a status subresource.
	HasStatus bool
	Consumer  dynamic.Interface
	Provider  dynamic.Interface
	// ClusterNamespace is the consumer's namespace on the provider.
	ClusterNamespace string
	// ClusterScoped says the resource is cluster-scoped in the consumer.
	// Under Prefixed and None isolation its copies are cluster-scoped on
	// the provider too, labelled with ClusterNamespace and, under
	// Prefixed isolation, named "<ClusterNamespace>-<name>"; the
	// konnector may read them only by name, so each copy gets its own
	// watch. Under Namespaced isolation the provider's resource is
	// namespaced, and the copies keep their names in ClusterNamespace.
	ClusterScoped bool
	// Isolation is the export's isolation of cluster-scoped objects:
	// Prefixed, Namespaced or None.
	Isolation kubebindv1alpha1.Isolation
	// ClusterID identifies the consumer cluster in provider labels.
	ClusterID string
	// Orphan reports whether the binding asks to keep provider copies
	// when consumer objects are deleted.
	Orphan func() bool
	// Claims are the permission claims of the binding's export: Secrets
	// and ConfigMaps that travel with the bound objects.
	Claims []binderyv1alpha1.PermissionClaim
	// Namespaces, when not empty, are the only consumer namespaces the
	// provider serves; objects elsewhere get a Warning and stay local.
	Namespaces []string
	// Released, when set, is called after a deleted consumer object is
	// released (its finalizer removed), so that an unbinding binding
	// learns at once that one fewer object remains.
	Released func()
	// Recorder records events on consumer objects.
	Recorder events.EventRecorder
	Workers  int
	Log      logr.Logger
}

// Syncer syncs one resource of one binding.
type Syncer struct {
	o     Options
	queue workqueue.TypedRateLimitingInterface[string]

	consumerInformer cache.SharedIndexInformer
	// consumerObjects is the consumer cache with the syncer's own writes
	// laid over it until the watch delivers them, so that the next sync
	// of an object does not write again from an older version.
	consumerObjects cache.MutationCache
	asnInformer     cache.SharedIndexInformer
	claims          []*claimSync

	// down and up time changes for the latency histogram; synced counts
	// objects in sync.
	down, up *tracker
	synced   syncedSet

	mu        gosync.Mutex
	providers map[string]*providerInformer // by provider namespace
	informers gosync.WaitGroup
	// gone holds the origin UID of copies the provider cache saw deleted,
	// by consumer key, until the consumer object is released.
	gone map[string]string
	// created holds the copies this syncer created that the provider
	// cache has not shown yet, by provider cache key, so that the syncs
	// in between do not write them again. Unlike client-go's
	// MutationCache with includeAdds (used for consumerObjects, without
	// adds), an entry goes as soon as the provider watch reports the copy
	// deleted, so a copy deleted out of band is never taken for present.
	created map[string]createdCopy
	// orphans holds the keys of consumer objects that went with the
	// orphan annotation, until collectOrphan has released their copies.
	orphans map[string]bool
	ctx     context.Context
}

type createdCopy struct {
	obj *unstructured.Unstructured
	at  time.Time
}

// createdTTL bounds how long a created copy stands in for the provider
// cache, should the cache never show it (for example when the copy is
// deleted before the watch delivers it).
const createdTTL = 30 * time.Second

type providerInformer struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
}

// New returns a syncer; Run runs it.
func New(o Options) *Syncer {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Orphan == nil {
		o.Orphan = func() bool { return false }
	}
	return &Syncer{o: o, providers: map[string]*providerInformer{}, down: newTracker(), up: newTracker()}
}

// Run syncs until ctx ends, then stops every informer and worker.
func (s *Syncer) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	// Stop and wait for every informer, also those started later, before
	// returning, so that a stopped syncer leaves nothing running.
	defer s.informers.Wait()
	defer cancel()
	s.ctx = ctx
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		// Retries back off per object, to at most maxBackoff, so that
		// objects converge soon after a provider outage ends.
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, maxBackoff),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "sync-" + s.o.Name},
	)
	defer s.queue.ShutDown()
	defer forgetMetrics(s.o.Name)

	cf := dynamicinformer.NewDynamicSharedInformerFactory(s.o.Consumer, 0)
	s.consumerInformer = cf.ForResource(s.o.GVR).Informer()
	s.consumerObjects = newConsumerObjects(s.o.Log, s.consumerInformer)
	for i, c := range s.o.Claims {
		cs, err := newClaimSync(s, i, c)
		if err != nil {
			return err
		}
		if c.Selector.Reference != nil {
			if err := s.consumerInformer.AddIndexers(cache.Indexers{cs.refIndex(): cs.references}); err != nil {
				return fmt.Errorf("indexing claim references: %w", err)
			}
		}
		s.claims = append(s.claims, cs)
	}
	if _, err := s.consumerInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.enqueueConsumer(obj) },
		UpdateFunc: func(old, obj any) {
			s.enqueueConsumer(obj)
			for _, c := range s.claims {
				c.enqueueReferenced(old)
			}
		},
		DeleteFunc: func(obj any) {
			s.consumerDeleted(obj)
			s.enqueueConsumer(obj)
		},
	}); err != nil {
		return fmt.Errorf("watching consumer %s: %w", s.o.GVR.Resource, err)
	}
	pf := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.o.Provider, 0, s.o.ClusterNamespace, nil)
	s.asnInformer = pf.ForResource(APIServiceNamespaces).Informer()
	if _, err := s.asnInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.namespaceReady(obj) },
		UpdateFunc: func(_, obj any) { s.namespaceReady(obj) },
	}); err != nil {
		return fmt.Errorf("watching APIServiceNamespaces: %w", err)
	}
	s.start(ctx, cf)
	s.start(ctx, pf)
	if !cache.WaitForCacheSync(ctx.Done(), s.consumerInformer.HasSynced, s.asnInformer.HasSynced) {
		return ctx.Err()
	}
	s.o.Log.V(1).Info("Syncer started", "resource", s.o.GVR.String())

	var wg gosync.WaitGroup
	for range s.o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	s.mu.Lock()
	for _, p := range s.providers {
		p.cancel()
	}
	s.mu.Unlock()
	return nil
}

// newConsumerObjects lays written objects over an informer's cache, for a
// minute at most, and never shows an object the cache does not hold.
func newConsumerObjects(log logr.Logger, inf cache.SharedIndexInformer) cache.MutationCache {
	return cache.NewIntegerResourceVersionMutationCache(log, inf.GetStore(), inf.GetIndexer(), time.Minute, false)
}

// clusterCopies reports whether provider copies are cluster-scoped: the
// resource is cluster-scoped, and not mapped into the cluster namespace.
func (s *Syncer) clusterCopies() bool {
	return s.o.ClusterScoped && s.o.Isolation != kubebindv1alpha1.IsolationNamespaced
}

// activeInformers counts the informer factories of all syncers that run.
var activeInformers atomic.Int64

// ActiveInformers returns how many informers all syncers run; it goes back
// to zero when every binding is gone.
func ActiveInformers() int64 { return activeInformers.Load() }

// start starts an informer factory until ctx ends, and counts it.
func (s *Syncer) start(ctx context.Context, f dynamicinformer.DynamicSharedInformerFactory) {
	activeInformers.Add(1)
	f.Start(ctx.Done())
	s.informers.Add(1)
	go func() {
		defer s.informers.Done()
		<-ctx.Done()
		f.Shutdown()
		activeInformers.Add(-1)
	}()
}

func (s *Syncer) enqueueConsumer(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		s.down.observe(key)
		s.queue.Add(key)
	}
	for _, c := range s.claims {
		c.enqueueReferenced(obj)
	}
}

// consumerDeleted remembers a consumer object that went with the orphan
// annotation. Normally the finalizer releases its copy first; an object
// deleted before the konnector added the finalizer is gone by the time it
// syncs, and collectOrphan must release its copy rather than delete it.
func (s *Syncer) consumerDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || u.GetAnnotations()[OrphanAnnotation] != "true" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.orphans == nil {
		s.orphans = map[string]bool{}
	}
	s.orphans[keyOf(u)] = true
}

// wentOrphaned reports whether the consumer object of key went with the
// orphan annotation; forget forgets it.
func (s *Syncer) wentOrphaned(key string, forget bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	orphan := s.orphans[key]
	if forget {
		delete(s.orphans, key)
	}
	return orphan
}

// enqueueOrigin enqueues the consumer object a provider copy comes from.
func (s *Syncer) enqueueOrigin(obj any) {
	key, _, ok := originOf(obj)
	if !ok {
		return
	}
	s.up.observe(key)
	s.queue.Add(key)
}

// namespaceReady starts watching the provider namespace of an
// APIServiceNamespace once it is assigned, and enqueues the consumer
// namespace's objects, which waited for it.
func (s *Syncer) namespaceReady(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	pns, _, _ := unstructured.NestedString(u.Object, "status", "namespace")
	if pns == "" || s.o.ClusterScoped || !s.covers(u.GetName()) {
		return
	}
	s.watchProviderNamespace(pns)
	for _, c := range s.claims {
		c.namespaceReady(u.GetName(), pns)
	}
	objs, err := s.consumerInformer.GetIndexer().ByIndex(cache.NamespaceIndex, u.GetName())
	if err != nil {
		return
	}
	for _, o := range objs {
		s.enqueueConsumer(o)
	}
}

func (s *Syncer) watchProviderNamespace(pns string) cache.SharedIndexInformer {
	return s.watchProvider(pns, "")
}

// watchProvider starts, once, the provider informer of the copies in
// namespace pns, or, for a cluster-scoped resource, of the one copy named
// name: a konnector may read those only by name.
func (s *Syncer) watchProvider(pns, name string) cache.SharedIndexInformer {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := pns
	if name != "" {
		key = "object/" + name
	}
	if p, ok := s.providers[key]; ok {
		return p.informer
	}
	ctx, cancel := context.WithCancel(s.ctx)
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.o.Provider, 0, pns, func(lo *metav1.ListOptions) {
		lo.LabelSelector = labels.Set{ManagedByLabel: ManagedByValue}.String()
		if name != "" {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	})
	inf := f.ForResource(s.o.GVR).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.enqueueOrigin,
		UpdateFunc: func(_, obj any) { s.enqueueOrigin(obj) },
		DeleteFunc: func(obj any) {
			s.forgetCreated(obj)
			s.copyGone(obj)
			s.enqueueOrigin(obj)
		},
	})
	s.start(ctx, f)
	s.providers[key] = &providerInformer{informer: inf, cancel: cancel}
	return inf
}

// unwatchProviderObject stops the informer of a cluster-scoped copy whose
// consumer object is gone.
func (s *Syncer) unwatchProviderObject(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.providers["object/"+name]; ok {
		p.cancel()
		delete(s.providers, "object/"+name)
	}
}

func (s *Syncer) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	start := time.Now()
	requeue, err := s.syncSafely(ctx, key)
	if err == nil {
		// Changes seen before this sync started are handled now, with
		// or without a write.
		s.down.forgetBefore(key, start)
		s.up.forgetBefore(key, start)
	}
	switch {
	case apierrors.IsConflict(err):
		// The cache was behind: the newer version's event is on its
		// way and enqueues the object again, without a backoff.
		s.queue.Forget(key)
	case err != nil:
		SyncErrors.WithLabelValues(s.o.Name).Inc()
		if ctx.Err() == nil {
			s.o.Log.Info("Sync failed; retrying", "key", key, "error", err.Error())
		}
		s.queue.AddRateLimited(key)
	case requeue > 0:
		s.queue.Forget(key)
		s.queue.AddAfter(key, requeue)
	default:
		s.queue.Forget(key)
	}
	return true
}

// syncSafely runs sync and turns a panic into an error, as
// controller-runtime does for reconcilers: one bad object must not stop
// the konnector.
func (s *Syncer) syncSafely(ctx context.Context, key string) (requeue time.Duration, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.o.Log.Error(fmt.Errorf("panic: %v", r), "Sync panicked", "key", key, "stack", string(debug.Stack()))
			err = fmt.Errorf("panic while syncing %s: %v", key, r)
		}
	}()
	return s.sync(ctx, key)
}

// readyNamespace returns the provider namespace of consumer namespace
// cns, once the backend has assigned it.
func (s *Syncer) readyNamespace(cns string) (string, bool) {
	item, ok, _ := s.asnInformer.GetIndexer().GetByKey(s.o.ClusterNamespace + "/" + cns)
	if !ok {
		return "", false
	}
	pns, _, _ := unstructured.NestedString(item.(*unstructured.Unstructured).Object, "status", "namespace")
	return pns, pns != ""
}

// covers reports whether the provider serves consumer namespace ns.
func (s *Syncer) covers(ns string) bool {
	return len(s.o.Namespaces) == 0 || slices.Contains(s.o.Namespaces, ns)
}

// maxBackoff is the longest wait before an object's next retry.
const maxBackoff = 20 * time.Second

// errWaiting is returned while a consumer namespace has no provider
// namespace yet; the APIServiceNamespace watch enqueues the object again.
var errWaiting = errors.New("waiting for the provider namespace")

// sync reconciles one consumer object with its provider copy.
func (s *Syncer) sync(ctx context.Context, key string) (time.Duration, error) {
	if parts := strings.SplitN(key, "/", 4); len(parts) == 4 && parts[0] == "claim" {
		i, err := strconv.Atoi(parts[1])
		if err != nil || i >= len(s.claims) {
			return 0, nil
		}
		return 0, s.claims[i].sync(ctx, parts[2], parts[3])
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	item, exists, err := s.consumerObjects.GetByKey(key)
	if err != nil {
		return 0, err
	}
	if !exists {
		s.sawGone(key, "") // forget what was seen of its copy
		SyncedObjects.WithLabelValues(s.o.Name).Set(float64(s.synced.set(key, false)))
		if err := s.collectOrphan(ctx, ns, name); err != nil {
			return 0, err
		}
		if s.clusterCopies() {
			if pname, err := s.providerName(name); err == nil {
				s.unwatchProviderObject(pname)
			}
		}
		return 0, nil
	}
	obj := item.(*unstructured.Unstructured)
	if obj.GetDeletionTimestamp() != nil {
		return s.delete(ctx, obj)
	}
	if !s.o.ClusterScoped && !s.covers(ns) {
		if obj.GetAnnotations()[SyncedGenerationAnnotation] == "" {
			s.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "NamespaceNotBound", "Sync",
				"The provider serves this resource only in namespaces %s; this object stays in this cluster", strings.Join(s.o.Namespaces, ", "))
		}
		return 0, nil
	}
	pns, err := s.providerNamespace(ctx, ns)
	if errors.Is(err, errWaiting) {
		return 0, nil
	} else if err != nil {
		return 0, err
	}
	copyObj, err := s.ensureProviderCopy(ctx, obj, pns)
	if errors.Is(err, errNameTooLong) {
		return 0, nil // names are immutable: retrying cannot help
	} else if err != nil {
		return 0, err
	}
	// The finalizer comes with the first write back, after the copy
	// exists: one consumer write instead of two. Should the consumer
	// object go before that, collectOrphan deletes the copy.
	if obj, err = s.ensureSyncedMetadata(ctx, obj); err != nil {
		return 0, err
	}
	if err := s.syncBack(ctx, obj, copyObj); err != nil {
		return 0, err
	}
	SyncedObjects.WithLabelValues(s.o.Name).Set(float64(s.synced.set(key, true)))
	return 0, nil
}

// providerNamespace returns the provider namespace of consumer namespace
// ns, asking the backend for one with an APIServiceNamespace when there
// is none yet.
func (s *Syncer) providerNamespace(ctx context.Context, ns string) (string, error) {
	switch {
	case s.clusterCopies():
		return "", nil
	case s.o.ClusterScoped:
		// Namespaced isolation: every copy lives in the cluster
		// namespace.
		s.watchProviderNamespace(s.o.ClusterNamespace)
		return s.o.ClusterNamespace, nil
	}
	item, exists, err := s.asnInformer.GetIndexer().GetByKey(s.o.ClusterNamespace + "/" + ns)
	if err != nil {
		return "", err
	}
	if exists {
		if pns, _, _ := unstructured.NestedString(item.(*unstructured.Unstructured).Object, "status", "namespace"); pns != "" {
			s.watchProviderNamespace(pns)
			return pns, nil
		}
		return "", errWaiting
	}
	asn := &unstructured.Unstructured{}
	asn.SetAPIVersion(kubebindv1alpha1.SchemeGroupVersion.String())
	asn.SetKind("APIServiceNamespace")
	asn.SetNamespace(s.o.ClusterNamespace)
	asn.SetName(ns)
	if _, err := s.o.Provider.Resource(APIServiceNamespaces).Namespace(s.o.ClusterNamespace).Create(ctx, asn, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating APIServiceNamespace %s: %w", ns, err)
	}
	return "", errWaiting
}

// errNameTooLong is returned for a cluster-scoped object whose prefixed
// name would be longer than an object name may be.
var errNameTooLong = errors.New("the name is too long for Prefixed isolation")

// providerName is the name of the provider copy of the consumer object
// named name: the same, or for a cluster-scoped resource under Prefixed
// isolation "<cluster namespace>-<name>".
func (s *Syncer) providerName(name string) (string, error) {
	if !s.clusterCopies() || s.o.Isolation == kubebindv1alpha1.IsolationNone {
		return name, nil
	}
	pname, ok := providername.PrefixedName(s.o.ClusterNamespace, name)
	if !ok {
		return "", fmt.Errorf("%w: %q becomes %d characters on the provider, more than %d", errNameTooLong, name, len(pname), providername.MaxObjectNameLength)
	}
	return pname, nil
}

// providerCopy is the desired provider copy of obj in namespace pns: the
// consumer's spec (every top-level field but metadata and status), user
// labels and annotations, and origin metadata.
func (s *Syncer) providerCopy(obj *unstructured.Unstructured, pns, pname string) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range obj.Object {
		switch k {
		case "metadata", "status":
			continue
		}
		out.Object[k] = v
	}
	out.SetNamespace(pns)
	out.SetName(pname)
	extra := map[string]string{ConsumerClusterLabel: s.o.ClusterID}
	if s.clusterCopies() {
		// The backend's admission policy requires it, and grants the
		// konnector the copies that carry it.
		extra[binderyv1alpha1.ClusterNamespaceLabel] = s.o.ClusterNamespace
	}
	stampCopy(out, obj, extra)
	return out
}

// cachedCopy returns the provider cache's copy named pname in pns.
func (s *Syncer) cachedCopy(pns, pname string) (*unstructured.Unstructured, bool) {
	key, inf := pns+"/"+pname, (cache.SharedIndexInformer)(nil)
	if s.clusterCopies() {
		key, inf = pname, s.watchProvider("", pname)
	} else {
		inf = s.watchProviderNamespace(pns)
	}
	item, ok, _ := inf.GetIndexer().GetByKey(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, wasCreated := s.created[key]
	switch {
	case ok:
		delete(s.created, key)
		return item.(*unstructured.Unstructured), true
	case wasCreated && time.Since(c.at) < createdTTL:
		return c.obj, true
	case wasCreated:
		delete(s.created, key)
	}
	return nil, false
}

// rememberCreated keeps a copy the syncer created until the provider cache
// shows it.
func (s *Syncer) rememberCreated(obj *unstructured.Unstructured) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.created == nil {
		s.created = map[string]createdCopy{}
	}
	s.created[cache.MetaObjectToName(obj).String()] = createdCopy{obj: obj, at: time.Now()}
}

// forgetCreated forgets a created copy the provider cache saw deleted.
func (s *Syncer) forgetCreated(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.created, key)
}

// ensureProviderCopy applies the provider copy when it differs from the
// cached one, and returns the provider's current object.
func (s *Syncer) ensureProviderCopy(ctx context.Context, obj *unstructured.Unstructured, pns string) (*unstructured.Unstructured, error) {
	pname, err := s.providerName(obj.GetName())
	if err != nil {
		s.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "Not synced: %v", err)
		return nil, err
	}
	desired := s.providerCopy(obj, pns, pname)
	rc := s.o.Provider.Resource(s.o.GVR).Namespace(pns)
	cached, ok := s.cachedCopy(pns, pname)
	if ok {
		if uid := cached.GetAnnotations()[OriginUIDAnnotation]; uid != "" && uid != string(obj.GetUID()) && cached.GetDeletionTimestamp() == nil {
			// A copy of an earlier object of the same name: replace it
			// once it is gone.
			if err := rc.Delete(ctx, pname, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(cached.GetUID())}}); err != nil && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("deleting the stale provider copy of %s: %w", keyOf(obj), err)
			}
			return nil, fmt.Errorf("waiting for the stale provider copy of %s to go", keyOf(obj))
		}
		if upToDate(desired, cached) {
			return cached, nil
		}
		if err := s.upgradeOwnership(ctx, rc, cached); err != nil {
			return nil, err
		}
	}
	var applied *unstructured.Unstructured
	verb := "apply"
	if !ok {
		verb = "create"
		// A first copy is created: that costs the provider less than an
		// apply, which must look for an existing object first. And a
		// konnector may patch (apply) cluster-scoped copies only by name,
		// once they exist. upgradeOwnership hands the created fields to
		// the apply manager before the next write.
		applied, err = rc.Create(ctx, desired, metav1.CreateOptions{FieldManager: FieldManager})
		switch {
		case err == nil:
			s.rememberCreated(applied)
		case apierrors.IsAlreadyExists(err) && s.clusterCopies():
			s.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "NameTaken", "Sync",
				"%s already exists on the provider and is not this object's copy (or not readable yet); rename the object if this persists", pname)
		case apierrors.IsAlreadyExists(err):
			// The provider namespace is this consumer's alone: the cache
			// has not seen the copy yet, or it is an earlier copy the
			// konnector released (orphaned), which the cache does not
			// list. Apply takes it over, as for any other write.
			ok = true
		}
	}
	if ok {
		applied, err = rc.Apply(ctx, pname, desired, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	}
	if err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			s.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "The provider refused the object: %v", err)
		}
		return nil, fmt.Errorf("writing the provider copy of %s: %w", keyOf(obj), err)
	}
	ProviderWrites.WithLabelValues(s.o.Name, verb).Inc()
	if d, ok := s.down.since(keyOf(obj)); ok {
		SyncLatency.WithLabelValues(s.o.Name, "down").Observe(d.Seconds())
	}
	if obj.GetAnnotations()[SyncedGenerationAnnotation] == "" {
		where := "in namespace " + pns
		if s.clusterCopies() {
			where = "as " + pname
		}
		s.o.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Synced", "Sync", "Created on the provider %s", where)
	}
	return applied, nil
}

// upgradeOwnership moves the fields a create gave the konnector's field
// manager (as an update) to its apply entry, so that fields the consumer
// later removes are removed on the provider too.
func (s *Syncer) upgradeOwnership(ctx context.Context, rc dynamic.ResourceInterface, cached *unstructured.Unstructured) error {
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(cached, sets.New(FieldManager), FieldManager)
	if err != nil || patch == nil {
		return err
	}
	if _, err := rc.Patch(ctx, cached.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("taking over the fields of provider copy %s: %w", cached.GetName(), err)
	}
	return nil
}

// keyOf is the cache key of a consumer object: "namespace/name", or
// "name" when cluster-scoped.
func keyOf(obj *unstructured.Unstructured) string { return cache.MetaObjectToName(obj).String() }

// upToDate reports whether the cached copy already has everything desired
// holds; the provider may add fields (defaults, its own labels).
func upToDate(desired, cached *unstructured.Unstructured) bool {
	for k, v := range desired.Object {
		if k == "metadata" || k == "apiVersion" || k == "kind" {
			continue
		}
		if !equalJSON(v, cached.Object[k]) {
			return false
		}
	}
	// The hash covers labels and annotations, including ones the
	// consumer removed, which a subset check cannot see.
	return cached.GetAnnotations()[AppliedHashAnnotation] == desired.GetAnnotations()[AppliedHashAnnotation]
}

// syncBack copies the provider copy's status to the consumer object.
func (s *Syncer) syncBack(ctx context.Context, obj, copyObj *unstructured.Unstructured) error {
	rc := s.o.Consumer.Resource(s.o.GVR).Namespace(obj.GetNamespace())
	if s.o.HasStatus {
		status, has := copyObj.Object["status"]
		if has && !equalJSON(status, obj.Object["status"]) {
			updated := obj.DeepCopy()
			updated.Object["status"] = status
			got, err := rc.UpdateStatus(ctx, updated, metav1.UpdateOptions{})
			if err != nil {
				return fmt.Errorf("updating the status of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
			}
			s.consumerObjects.Mutation(got)
			if d, ok := s.up.since(keyOf(obj)); ok {
				SyncLatency.WithLabelValues(s.o.Name, "up").Observe(d.Seconds())
			}
		}
	}
	return nil
}

// ensureSyncedMetadata puts the finalizer on the consumer object and
// records the generation whose spec reached the provider, in one write.
func (s *Syncer) ensureSyncedMetadata(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	gen := fmt.Sprint(obj.GetGeneration())
	if hasFinalizer(obj) && obj.GetAnnotations()[SyncedGenerationAnnotation] == gen {
		return obj, nil
	}
	obj = obj.DeepCopy()
	if !hasFinalizer(obj) {
		obj.SetFinalizers(append(obj.GetFinalizers(), Finalizer))
	}
	a := obj.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[SyncedGenerationAnnotation] = gen
	obj.SetAnnotations(a)
	got, err := s.o.Consumer.Resource(s.o.GVR).Namespace(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("recording the sync of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	s.consumerObjects.Mutation(got)
	return got, nil
}

// delete deletes the provider copy of a deleted consumer object, and
// releases the consumer object only when the copy is gone.
func (s *Syncer) delete(ctx context.Context, obj *unstructured.Unstructured) (time.Duration, error) {
	if !hasFinalizer(obj) {
		return 0, nil
	}
	if !s.orphan(obj) {
		pns, err := s.providerNamespace(ctx, obj.GetNamespace())
		if err != nil && !errors.Is(err, errWaiting) {
			return 0, err
		}
		if pns != "" || s.clusterCopies() {
			wait, err := s.deleteCopy(ctx, obj, pns)
			if err != nil || wait > 0 {
				return wait, err
			}
		}
	} else if err := s.release(ctx, obj); err != nil {
		return 0, err
	}
	return 0, s.removeFinalizer(ctx, obj)
}

// deleteCopy deletes the provider copy of a deleted consumer object and
// says how long to wait before looking again; zero means the copy is gone.
// The provider cache answers when it can: a copy it holds is deleted by
// UID, and a copy it saw deleted is gone. Only when it never saw the copy
// does a live read decide, so that a copy created a moment ago is not
// missed.
func (s *Syncer) deleteCopy(ctx context.Context, obj *unstructured.Unstructured, pns string) (time.Duration, error) {
	key := keyOf(obj)
	pname, err := s.providerName(obj.GetName())
	if err != nil {
		return 0, nil // never synced
	}
	rc := s.o.Provider.Resource(s.o.GVR).Namespace(pns)
	// The watch announces the deletion of a copy the cache holds. A copy
	// only a live read found may be gone before the cache lists (a
	// namespace's informer starts with its first copy), and then no event
	// comes: look again soon instead.
	recheck := time.Minute
	copyObj, ok := s.cachedCopy(pns, pname)
	if !ok {
		if s.sawGone(key, obj.GetUID()) {
			return 0, nil
		}
		live, err := rc.Get(ctx, pname, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return 0, nil
		case s.clusterCopies() && apierrors.IsForbidden(err):
			// Not (or no longer) granted by name: not this object's copy.
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("getting the provider copy of %s: %w", key, err)
		}
		copyObj = live
		recheck = uncachedRecheck
	}
	if copyObj.GetAnnotations()[OriginUIDAnnotation] != string(obj.GetUID()) {
		return 0, nil // not this object's copy; nothing to wait for
	}
	if copyObj.GetDeletionTimestamp() == nil {
		err := rc.Delete(ctx, pname, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr(copyObj.GetUID())}})
		switch {
		case apierrors.IsNotFound(err):
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("deleting the provider copy of %s: %w", key, err)
		}
		ProviderWrites.WithLabelValues(s.o.Name, "delete").Inc()
		if fins := copyObj.GetFinalizers(); len(fins) > 0 {
			// Only then is there something to wait for.
			s.o.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "DeletingOnProvider", "Delete",
				"Waiting for the provider copy %s to be deleted (finalizers %s)", cache.NewObjectName(pns, pname), strings.Join(fins, ", "))
		}
	}
	// The provider watch enqueues the object when the copy is gone; the
	// timer is a safety net.
	return recheck, nil
}

// uncachedRecheck is how soon deleteCopy looks again at a copy that the
// provider cache did not hold.
const uncachedRecheck = time.Second

// copyGone remembers a provider copy the cache saw deleted, by the UID of
// the consumer object it came from.
func (s *Syncer) copyGone(obj any) {
	key, uid, ok := originOf(obj)
	if !ok || uid == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone == nil {
		s.gone = map[string]string{}
	}
	s.gone[key] = uid
}

// sawGone reports, and forgets, whether the cache saw the copy of the
// consumer object with uid deleted; an empty uid just forgets.
func (s *Syncer) sawGone(key string, uid types.UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen, ok := s.gone[key]
	if uid != "" && (!ok || seen != string(uid)) {
		return false
	}
	delete(s.gone, key)
	return ok
}

// release leaves an orphaned provider copy to the provider: it stops being
// managed, so the konnector never deletes or recreates it.
func (s *Syncer) release(ctx context.Context, obj *unstructured.Unstructured) error {
	pns, err := s.providerNamespace(ctx, obj.GetNamespace())
	if err != nil {
		if errors.Is(err, errWaiting) {
			return nil
		}
		return err
	}
	pname, err := s.providerName(obj.GetName())
	if err != nil {
		return nil
	}
	if err := s.releaseCopy(ctx, pns, pname); err != nil {
		return fmt.Errorf("releasing the provider copy of %s: %w", keyOf(obj), err)
	}
	s.o.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Orphaned", "Delete", "The provider copy %s is kept", cache.NewObjectName(pns, pname))
	return nil
}

// releaseCopy stops managing the provider copy pns/pname.
func (s *Syncer) releaseCopy(ctx context.Context, pns, pname string) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, ManagedByLabel)
	if _, err := s.o.Provider.Resource(s.o.GVR).Namespace(pns).Patch(ctx, pname, typesMergePatch, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

func (s *Syncer) orphan(obj *unstructured.Unstructured) bool {
	return obj.GetAnnotations()[OrphanAnnotation] == "true" || s.o.Orphan()
}

func (s *Syncer) removeFinalizer(ctx context.Context, obj *unstructured.Unstructured) error {
	var kept []string
	for _, f := range obj.GetFinalizers() {
		if f != Finalizer {
			kept = append(kept, f)
		}
	}
	obj = obj.DeepCopy()
	obj.SetFinalizers(kept)
	if _, err := s.o.Consumer.Resource(s.o.GVR).Namespace(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the finalizer of %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	if s.o.Released != nil {
		s.o.Released()
	}
	return nil
}

// collectOrphan deletes a managed provider copy whose consumer object is
// gone without the finalizer having run (for example when someone removed
// the finalizer by hand), so that no provider object is left behind.
func (s *Syncer) collectOrphan(ctx context.Context, ns, name string) (err error) {
	key := cache.NewObjectName(ns, name).String()
	orphan := s.wentOrphaned(key, false) || s.o.Orphan()
	defer func() {
		if err == nil {
			s.wentOrphaned(key, true)
		}
	}()
	pns := ""
	switch {
	case !s.o.ClusterScoped:
		var ok bool
		if pns, ok = s.readyNamespace(ns); !ok {
			return nil
		}
	case !s.clusterCopies():
		pns = s.o.ClusterNamespace
	}
	pname, err := s.providerName(name)
	if err != nil {
		return nil
	}
	cached, ok := s.cachedCopy(pns, pname)
	if !ok || cached.GetDeletionTimestamp() != nil {
		return nil
	}
	if orphan {
		// Kept, as the object or its binding asked.
		if err := s.releaseCopy(ctx, pns, pname); err != nil {
			return fmt.Errorf("releasing the provider copy of vanished %s: %w", cache.NewObjectName(ns, name), err)
		}
		s.o.Log.Info("Released the provider copy of an object deleted before its finalizer was added", "key", cache.NewObjectName(ns, name).String(), "copy", cache.NewObjectName(pns, pname).String())
		return nil
	}
	uid := cached.GetUID()
	if err := s.o.Provider.Resource(s.o.GVR).Namespace(pns).Delete(ctx, pname, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting the provider copy of vanished %s: %w", cache.NewObjectName(ns, name), err)
	}
	return nil
}

func hasFinalizer(obj *unstructured.Unstructured) bool {
	for _, f := range obj.GetFinalizers() {
		if f == Finalizer {
			return true
		}
	}
	return false
}
