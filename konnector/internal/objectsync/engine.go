// Package objectsync moves the objects of one bound resource between a
// consumer cluster and the provider: spec down, status up.
//
// The consumer object is the source of truth for spec, labels and
// annotations. Its provider copy lives where the binding's
// isolation.Strategy places it. The copy is created, then kept with
// server-side apply under one field manager, so fields that provider-side
// controllers own are never clobbered. Status flows back whole. A
// finalizer keeps the consumer object until the copy is really gone, so
// provider-side finalizers (Crossplane deleting a cloud resource) finish
// first.
//
// An object's way, one file per step:
//
//	watches.go    informers of both clusters turn events into Requests
//	placement.go  where the copy lives: the strategy, and the provider
//	              namespaces the backend assigns
//	down.go       spec down: the provider copy is created or applied
//	up.go         the consumer object records the sync; status comes up
//	deletion.go   the copy goes before the object does, or is released
//	claims.go     Secrets and ConfigMaps that travel with the objects
//
// engine.go runs it all as a controller-runtime controller: its worker
// pool, panic recovery, backoff and reconcile metrics; queue.go orders its
// work queue in lanes, so that statuses do not wait behind new objects,
// nor new objects behind the records of synced ones. An Engine lives as
// long as its binding: Run stops every informer and worker when its
// context ends.
package objectsync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	binderyv1alpha1 "github.com/bindery-dev/bindery/apis/bindery/v1alpha1"
	"github.com/bindery-dev/bindery/apis/isolation"
	"github.com/bindery-dev/bindery/konnector/internal/dynamicclient"
	"github.com/bindery-dev/bindery/konnector/internal/lazylog"
)

// Options configure an Engine.
type Options struct {
	// Name names the engine in logs and metrics (the binding's name).
	Name string
	// GVR is the resource, at the version both clusters serve.
	GVR schema.GroupVersionResource
	// HasStatus says whether the resource has a status subresource.
	HasStatus bool
	Consumer  dynamic.Interface
	Provider  dynamic.Interface
	// ClusterNamespace is the consumer's namespace on the provider.
	ClusterNamespace string
	// Isolation places the copies on the provider.
	Isolation isolation.Strategy
	// ClusterID identifies the consumer cluster in provider labels.
	ClusterID string
	// KeepCopies reports whether the binding asks to keep provider copies
	// when consumer objects are deleted (the orphan annotation).
	KeepCopies func() bool
	// Claims are the permission claims of the binding's export: Secrets
	// and ConfigMaps that travel with the bound objects.
	Claims []binderyv1alpha1.PermissionClaim
	// Namespaces, when not empty, are the only consumer namespaces the
	// provider serves; objects elsewhere get a Warning and stay local.
	Namespaces []string
	// Neighbours, when set, are the other bindings of the resource, each
	// limited to its own namespaces: objects in the namespaces they serve
	// are theirs, and left alone.
	Neighbours Neighbours
	// Released, when set, is called after a deleted consumer object is
	// released (its finalizer removed), so that an unbinding binding
	// learns at once that one fewer object remains.
	Released func()
	// Recorder records events on consumer objects.
	Recorder events.EventRecorder
	Workers  int
	Log      logr.Logger
}

// Neighbours are the other bindings of an engine's resource, when the
// resource is bound from several providers, each for its own namespaces.
type Neighbours interface {
	// ServedBy names the other binding that serves consumer namespace
	// ns, if one does.
	ServedBy(ns string) (binding string, ok bool)
	// ReportsUncovered says whether this engine, of all the resource's
	// bindings, is the one to warn about objects in a namespace none of
	// them serves.
	ReportsUncovered() bool
}

// Engine syncs one resource of one binding.
type Engine struct {
	o          Options
	controller controller.TypedController[Request]
	// ctx ends when the engine stops; informers started later stop
	// with it.
	ctx context.Context

	// consumerClient is the client of the bound objects' watches and
	// writes in the consumer: o.Consumer, decoding no managed fields,
	// which the engine never reads of a consumer object
	// (noManagedFields).
	consumerClient dynamic.Interface

	consumerInformer cache.SharedIndexInformer
	// consumerObjects is the consumer cache with the engine's own writes
	// laid over it until the watch delivers them, so that the next sync
	// of an object does not write again from an older version.
	consumerObjects cache.MutationCache
	// serviceNamespaces are the consumer's APIServiceNamespaces.
	serviceNamespaces *serviceNamespaces
	claims            []*claimSync
	providers         providerWatches
	informers         informerGroup

	// lanes order the work queue: provider changes take turns with
	// consumer changes; marks wait.
	lanes *lanes

	created createdCopies
	gone    goneCopies
	kept    keptOnDelete

	// down and up time changes for the latency histogram; synced counts
	// objects in sync.
	down, up *tracker
	synced   syncedSet
}

// New returns an engine; Run runs it.
func New(o Options) *Engine {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.KeepCopies == nil {
		o.KeepCopies = func() bool { return false }
	}
	consumer, err := dynamicclient.OnlyManagedFieldsOf(o.Consumer, noManagedFields)
	if err != nil {
		// It makes a client of a configuration that made one already:
		// should it fail, objects are decoded whole, as they were.
		o.Log.Error(err, "Cannot make a consumer client that skips managed fields")
		consumer = o.Consumer
	}
	return &Engine{o: o, consumerClient: consumer, lanes: newLanes(), down: newTracker(), up: newTracker()}
}

// maxBackoff is the longest wait before an object's next retry.
const maxBackoff = 20 * time.Second

// cacheSyncTimeout bounds the wait for the first lists; an engine that
// cannot list stops with an error, and its binding starts a new one.
const cacheSyncTimeout = time.Minute

// Run syncs until ctx ends, then stops every informer and worker.
func (e *Engine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	// Stop and wait for every informer, also those started later, before
	// returning, so that a stopped engine leaves nothing running.
	defer e.informers.wait()
	defer cancel()
	defer holdMetrics(e.o.Name)()
	e.ctx = ctx

	c, err := controller.NewTypedUnmanaged("sync-"+e.o.Name, controller.TypedOptions[Request]{
		Reconciler:              e,
		MaxConcurrentReconciles: e.o.Workers,
		// Retries back off per object, to at most maxBackoff, so that
		// objects converge soon after a provider outage ends.
		RateLimiter:        workqueue.NewTypedItemExponentialFailureRateLimiter[Request](50*time.Millisecond, maxBackoff),
		NewQueue:           e.newQueue,
		SkipNameValidation: ptr.To(true), // a binding's engine restarts under its name
		NeedLeaderElection: ptr.To(false),
		RecoverPanic:       ptr.To(true),
		CacheSyncTimeout:   cacheSyncTimeout,
		// controller-runtime gives every reconcile's logger its ID;
		// encoding it only for lines written saves an allocation per sync.
		Logger: lazylog.New(e.o.Log),
	})
	if err != nil {
		return fmt.Errorf("creating the sync controller: %w", err)
	}
	e.controller = c
	if err := c.Watch(e.bindingSource()); err != nil {
		return err
	}
	if e.copiesIn() == isolation.InClusterNamespace {
		e.watchProvider(e.o.ClusterNamespace, "", func(q queue) {
			for _, o := range e.consumerInformer.GetStore().List() {
				e.consumerChanged(q, o)
			}
		})
	}
	return c.Start(ctx)
}

// Reconcile syncs one object or one claimed object. A conflict means the
// cache was behind: the newer version's event is on its way and enqueues
// the object again, so it is not retried with a backoff.
func (e *Engine) Reconcile(ctx context.Context, req Request) (reconcile.Result, error) {
	start := time.Now()
	var requeue time.Duration
	var err error
	if req.Claimed {
		err = e.claims[req.Claim].sync(ctx, req.Object.Namespace, req.Object.Name)
	} else {
		requeue, err = e.syncObject(ctx, req.Object)
		if err == nil {
			// Changes seen before this sync started are handled now,
			// with or without a write.
			e.down.forgetBefore(req.Object.String(), start)
			e.up.forgetBefore(req.Object.String(), start)
		}
	}
	switch {
	case apierrors.IsConflict(err):
		return reconcile.Result{}, nil
	case err != nil:
		SyncErrors.WithLabelValues(e.o.Name).Inc()
		return reconcile.Result{}, err
	}
	return reconcile.Result{RequeueAfter: requeue}, nil
}

// errWaiting is returned while a consumer namespace has no provider
// namespace yet, or its copies are not watched yet; the
// APIServiceNamespace watch, or the copies' once it has seen them all,
// enqueues the object again.
var errWaiting = errors.New("waiting for the provider namespace")

// syncObject reconciles one consumer object with its provider copy.
func (e *Engine) syncObject(ctx context.Context, key cache.ObjectName) (time.Duration, error) {
	if e.servedElsewhere(key.Namespace) {
		return 0, nil // another binding's object
	}
	obj, exists, err := e.consumerObject(key)
	if err != nil {
		return 0, err
	}
	if !exists {
		return 0, e.vanished(ctx, key)
	}
	if obj.GetDeletionTimestamp() != nil {
		return e.delete(ctx, obj)
	}
	if !e.covers(obj) {
		return 0, nil
	}
	pkey, err := e.placement(ctx, key)
	switch {
	case errors.Is(err, errWaiting):
		return 0, nil
	case errors.Is(err, isolation.ErrNameTooLong):
		e.refuse(obj, err)
		return 0, nil // names are immutable: retrying cannot help
	case err != nil:
		return 0, err
	}
	copyObj, created, err := e.ensureProviderCopy(ctx, obj, pkey)
	if err != nil {
		return 0, err
	}
	if created {
		// A new copy goes first: the object is marked in the sync its
		// watch event brings, so that under a burst new objects' copies
		// go ahead of marks and statuses.
		return 0, nil
	}
	// The status goes first: it is what users and their tools wait for.
	obj, wroteStatus, err := e.ensureStatusUp(ctx, obj, copyObj)
	if err != nil {
		return 0, err
	}
	if wroteStatus && !hasFinalizer(obj) {
		// A new object's first status came up alone: the sync that the
		// status's own consumer event brings records it, in the mark
		// lane, so that under a burst the up lane carries statuses only
		// and the down lane copies, and the records wait.
		e.lanes.preferMark(objectRequest(key))
		return 0, nil
	}
	// The finalizer and synced generation follow, in one write, after
	// the copy exists; for a new copy, after its first status or once
	// that is late (markWait). Should the consumer object go before,
	// vanished deletes the copy.
	if wait := e.markWait(obj, copyObj); wait > 0 {
		return wait, nil
	}
	if _, err = e.ensureSyncedMetadata(ctx, obj); err != nil {
		return 0, err
	}
	SyncedObjects.WithLabelValues(e.o.Name).Set(float64(e.synced.set(key.String(), true)))
	return 0, nil
}
