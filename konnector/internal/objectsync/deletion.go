package objectsync

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/bindery-dev/bindery/apis/isolation"
)

// Deletion and release. A deleted consumer object keeps its finalizer
// until its provider copy is gone, so provider-side finalizers finish
// first; or, when the object or its binding carries the orphan annotation,
// until the copy is released: left to the provider, no longer managed.
// A consumer object that vanished without the finalizer having run (it
// went before the first sync finished, or someone removed the finalizer)
// has its copy deleted or released too.

// delete handles a consumer object being deleted, and releases it only
// when its copy is handled.
func (e *Engine) delete(ctx context.Context, obj *unstructured.Unstructured) (time.Duration, error) {
	if !hasFinalizer(obj) {
		return 0, nil
	}
	pkey, err := e.o.Isolation.ToProvider(e.consumer(), cache.MetaObjectToName(obj).AsNamespacedName())
	switch {
	case errors.Is(err, isolation.ErrNamespaceNotAssigned), errors.Is(err, isolation.ErrNameTooLong):
		// Never synced: nothing on the provider.
	case err != nil:
		return 0, err
	case e.keepCopy(obj):
		if err := e.releaseCopy(ctx, pkey); err != nil {
			return 0, fmt.Errorf("releasing the provider copy of %s: %w", keyOf(obj), err)
		}
		e.o.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "Orphaned", "Delete", "The provider copy %s is kept", objectName(pkey))
	default:
		wait, err := e.deleteCopy(ctx, obj, pkey)
		if err != nil || wait > 0 {
			return wait, err
		}
	}
	return 0, e.removeFinalizer(ctx, obj)
}

// deleteCopy deletes the provider copy pkey of a deleted consumer object
// and says how long to wait before looking again; zero means the copy is
// gone. The provider cache answers when it can: a copy it holds is
// deleted by UID, and a copy it saw deleted is gone. Only when it never
// saw the copy does a live read decide, so that a copy created a moment
// ago is not missed.
func (e *Engine) deleteCopy(ctx context.Context, obj *unstructured.Unstructured, pkey types.NamespacedName) (time.Duration, error) {
	key := keyOf(obj)
	rc := e.o.Provider.Resource(e.o.GVR).Namespace(pkey.Namespace)
	// The watch announces the deletion of a copy the cache holds. A copy
	// only a live read found may be gone before the cache lists, and then
	// no event comes: look again soon instead.
	recheck := time.Minute
	copyObj, ok := e.cachedCopy(pkey)
	if ok && e.copiesIn() == isolation.ByName {
		// A copy read by name is granted by name only while it exists:
		// once it is gone, its watch cannot list again, and the cache may
		// keep it. Read it live.
		ok = false
	}
	if !ok {
		if e.gone.saw(key, obj.GetUID()) {
			return 0, nil
		}
		live, err := rc.Get(ctx, pkey.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return 0, nil
		case e.copiesIn() == isolation.ByName && apierrors.IsForbidden(err):
			// Not (or no longer) granted by name: not this object's copy.
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("getting the provider copy of %s: %w", key, err)
		}
		copyObj = live
		recheck = uncachedRecheck
	}
	if originUID(copyObj) != string(obj.GetUID()) {
		return 0, nil // not this object's copy; nothing to wait for
	}
	if copyObj.GetDeletionTimestamp() == nil {
		err := rc.Delete(ctx, pkey.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(copyObj.GetUID())}})
		switch {
		case apierrors.IsNotFound(err):
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("deleting the provider copy of %s: %w", key, err)
		}
		ProviderWrites.WithLabelValues(e.o.Name, "delete").Inc()
	} else if fins := copyObj.GetFinalizers(); len(fins) > 0 {
		// The provider holds the copy: the user learns why the object
		// stays, from the konnector that saw it held.
		e.o.Recorder.Eventf(obj, nil, corev1.EventTypeNormal, "DeletingOnProvider", "Delete",
			"Waiting for the provider copy %s to be deleted (finalizers %s)", objectName(pkey), strings.Join(fins, ", "))
	}
	// The provider watch enqueues the object when the copy changes or is
	// gone; the timer is a safety net.
	return recheck, nil
}

// uncachedRecheck is how soon deleteCopy looks again at a copy that the
// provider cache did not hold.
const uncachedRecheck = time.Second

// releaseCopy stops managing the provider copy pkey, so the konnector
// never deletes or recreates it.
func (e *Engine) releaseCopy(ctx context.Context, pkey types.NamespacedName) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:null}}}`, ManagedByLabel)
	if _, err := e.o.Provider.Resource(e.o.GVR).Namespace(pkey.Namespace).Patch(ctx, pkey.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// keepCopy reports whether obj's copy is to be kept: the orphan
// annotation on the object or on its binding.
func (e *Engine) keepCopy(obj *unstructured.Unstructured) bool {
	return obj.GetAnnotations()[OrphanAnnotation] == "true" || e.o.KeepCopies()
}

func (e *Engine) removeFinalizer(ctx context.Context, obj *unstructured.Unstructured) error {
	var kept []string
	for _, f := range obj.GetFinalizers() {
		if f != Finalizer {
			kept = append(kept, f)
		}
	}
	obj = obj.DeepCopy()
	obj.SetFinalizers(kept)
	if _, err := e.consumerClient.Resource(e.o.GVR).Namespace(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the finalizer of %s: %w", keyOf(obj), err)
	}
	if e.o.Released != nil {
		e.o.Released()
	}
	return nil
}

// vanished handles a consumer object that is gone: it deletes its managed
// copy, or releases it when the object went with the orphan annotation,
// and stops watching a copy watched by name.
func (e *Engine) vanished(ctx context.Context, key cache.ObjectName) error {
	e.gone.saw(key.String(), "") // forget what was seen of its copy
	SyncedObjects.WithLabelValues(e.o.Name).Set(float64(e.synced.set(key.String(), false)))
	pkey, err := e.o.Isolation.ToProvider(e.consumer(), key.AsNamespacedName())
	if err != nil {
		e.kept.forget(key.String())
		return nil // never synced
	}
	if err := e.collectCopy(ctx, key, pkey); err != nil {
		return err
	}
	e.kept.forget(key.String())
	if e.copiesIn() == isolation.ByName {
		e.unwatchCopy(pkey.Name)
	}
	return nil
}

// collectCopy deletes, or releases, the managed copy pkey of the vanished
// consumer object key, if the provider cache holds one.
func (e *Engine) collectCopy(ctx context.Context, key cache.ObjectName, pkey types.NamespacedName) error {
	cached, ok := e.cachedCopy(pkey)
	if !ok || cached.GetDeletionTimestamp() != nil {
		return nil
	}
	if e.kept.has(key.String()) || e.o.KeepCopies() {
		if err := e.releaseCopy(ctx, pkey); err != nil {
			return fmt.Errorf("releasing the provider copy of vanished %s: %w", key, err)
		}
		e.o.Log.Info("Released the provider copy of an object deleted before its finalizer was added", "key", key.String(), "copy", objectName(pkey))
		return nil
	}
	uid := cached.GetUID()
	if err := e.o.Provider.Resource(e.o.GVR).Namespace(pkey.Namespace).Delete(ctx, pkey.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting the provider copy of vanished %s: %w", key, err)
	}
	return nil
}

// consumerDeleted remembers a consumer object that went with the orphan
// annotation. Normally the finalizer releases its copy first; an object
// deleted before the konnector added the finalizer is gone by the time it
// syncs, and vanished must release its copy rather than delete it.
func (e *Engine) consumerDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if u, ok := obj.(metav1.Object); ok && u.GetAnnotations()[OrphanAnnotation] == "true" {
		e.kept.add(keyOf(u))
	}
}

// keptOnDelete holds the keys of consumer objects that went with the
// orphan annotation, until vanished has released their copies.
type keptOnDelete struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (k *keptOnDelete) add(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string]bool{}
	}
	k.keys[key] = true
}

func (k *keptOnDelete) has(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[key]
}

func (k *keptOnDelete) forget(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, key)
}

// goneCopies holds the origin UID of copies the provider cache saw
// deleted, by consumer key, until the consumer object is released.
type goneCopies struct {
	mu   sync.Mutex
	uids map[string]string
}

// remember records a provider copy the cache saw deleted.
func (g *goneCopies) remember(obj any) {
	key, uid, ok := originOf(obj)
	if !ok || uid == "" {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.uids == nil {
		g.uids = map[string]string{}
	}
	g.uids[key.String()] = uid
}

// saw reports, and forgets, whether the cache saw the copy of the
// consumer object with uid deleted; an empty uid just forgets.
func (g *goneCopies) saw(key string, uid types.UID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen, ok := g.uids[key]
	if uid != "" && (!ok || seen != string(uid)) {
		return false
	}
	delete(g.uids, key)
	return ok
}

// objectName prints a provider key as "namespace/name", or "name".
func objectName(k types.NamespacedName) string {
	return cache.NewObjectName(k.Namespace, k.Name).String()
}

func hasFinalizer(obj *unstructured.Unstructured) bool {
	for _, f := range obj.GetFinalizers() {
		if f == Finalizer {
			return true
		}
	}
	return false
}
