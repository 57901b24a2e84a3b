package objectsync

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

// Up: once its copy exists, the copy's status comes back whole, and the
// consumer object records the sync (the finalizer and the synced
// generation, in one write). A new copy's first status goes before that
// record, so that the record never holds it up: the record waits for it,
// for at most markDelay.

// mutationTTL is how long the engine's own consumer writes stand in for
// the consumer cache.
const mutationTTL = time.Minute

// consumerObject returns the consumer object of key from the cache, with
// the engine's own writes laid over it.
func (e *Engine) consumerObject(key cache.ObjectName) (*unstructured.Unstructured, bool, error) {
	item, exists, err := e.consumerObjects.GetByKey(key.String())
	if err != nil || !exists {
		return nil, false, err
	}
	obj, _ := decoded(item)
	return obj, true, nil
}

// markDelay is how long after its copy's creation a new object's record
// of the sync may wait for the copy's first status, to be written after
// it. The provider's operator typically writes a status as soon as it sees
// the copy; without the wait, the record is written at that moment, and
// the status write waits for it. The creation time has whole seconds, so
// the wait is between markDelay - 1s and markDelay; it is never longer,
// even when the provider's clock is ahead of the konnector's.
const markDelay = 2 * time.Second

// markWait is how long the record of obj's sync should still wait for
// the copy's first status: zero once the copy has one, when obj carries
// a record already (later syncs), or the resource has no status.
func (e *Engine) markWait(obj, copyObj *unstructured.Unstructured) time.Duration {
	if !e.o.HasStatus || hasFinalizer(obj) {
		return 0
	}
	if _, has := copyObj.Object["status"]; has {
		return 0
	}
	return min(markDelay, markDelay-time.Since(copyObj.GetCreationTimestamp().Time))
}

// ensureSyncedMetadata puts the finalizer on the consumer object and
// records the generation whose spec reached the provider, in one write.
func (e *Engine) ensureSyncedMetadata(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
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
	got, err := e.consumerClient.Resource(e.o.GVR).Namespace(obj.GetNamespace()).Update(ctx, obj, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("recording the sync of %s: %w", keyOf(obj), err)
	}
	_, _ = withoutManagedFields(got)
	e.consumerObjects.Mutation(got)
	return got, nil
}

// ensureStatusUp copies the provider copy's status to the consumer object
// when they differ, and returns the consumer object as it is then, and
// whether it wrote.
func (e *Engine) ensureStatusUp(ctx context.Context, obj, copyObj *unstructured.Unstructured) (*unstructured.Unstructured, bool, error) {
	if !e.o.HasStatus {
		return obj, false, nil
	}
	status, has := copyObj.Object["status"]
	if !has || equalJSON(status, obj.Object["status"]) {
		return obj, false, nil
	}
	updated := obj.DeepCopy()
	updated.Object["status"] = status
	got, err := e.consumerClient.Resource(e.o.GVR).Namespace(obj.GetNamespace()).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("updating the status of %s: %w", keyOf(obj), err)
	}
	_, _ = withoutManagedFields(got)
	e.consumerObjects.Mutation(got)
	if d, ok := e.up.since(keyOf(obj)); ok {
		SyncLatency.WithLabelValues(e.o.Name, "up").Observe(d.Seconds())
	}
	return got, true, nil
}
