package objectsync

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/csaupgrade"
	"k8s.io/utils/ptr"

	"github.com/bindery-dev/bindery/apis/isolation"
)

// Spec down: the consumer object's spec, user labels and annotations reach
// its provider copy. A first copy is created; later changes are applied
// with server-side apply, and only when the copy lacks them.

// ensureProviderCopy writes the provider copy pkey of obj when it differs
// from the cached one, and returns the provider's current object, and
// whether this write created it.
func (e *Engine) ensureProviderCopy(ctx context.Context, obj *unstructured.Unstructured, pkey types.NamespacedName) (copyObj *unstructured.Unstructured, created bool, err error) {
	desired := e.providerCopy(obj, pkey)
	rc := e.o.Provider.Resource(e.o.GVR).Namespace(pkey.Namespace)
	cached, ok := e.cachedCopy(pkey)
	if ok {
		if uid := originUID(cached); uid != "" && uid != string(obj.GetUID()) && cached.GetDeletionTimestamp() == nil {
			// A copy of an earlier object of the same name: replace it
			// once it is gone.
			if err := rc.Delete(ctx, pkey.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(cached.GetUID())}}); err != nil && !apierrors.IsNotFound(err) {
				return nil, false, fmt.Errorf("deleting the stale provider copy of %s: %w", keyOf(obj), err)
			}
			return nil, false, fmt.Errorf("waiting for the stale provider copy of %s to go", keyOf(obj))
		}
		if upToDate(desired, cached) {
			return cached, false, nil
		}
		if err := e.upgradeOwnership(ctx, rc, cached); err != nil {
			return nil, false, err
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
			_, _ = slimCopy(applied)
			e.created.remember(applied)
			created = true
		case e.copiesIn() == isolation.ByName && (apierrors.IsAlreadyExists(err) || apierrors.IsForbidden(err)):
			// A copy read by name is watched from the object's first
			// event, and placement does not wait for the watch to list
			// it: after a restart, the copy may be this object's own, and
			// the create then finds its name taken, or is refused while
			// the consumer has as many copies as it may (refusalHint).
			// Read, it stands in for the cache until its watch shows it,
			// and the copy is written as any cached one.
			if own, found := e.ownCopy(ctx, rc, obj, pkey.Name); found {
				e.created.remember(own)
				return e.ensureProviderCopy(ctx, obj, pkey)
			}
			if apierrors.IsAlreadyExists(err) {
				e.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "NameTaken", "Sync",
					"%s already exists on the provider and is not this object's copy (or not readable yet); rename the object if this persists", pkey.Name)
			}
		case apierrors.IsAlreadyExists(err):
			// The provider namespace is this consumer's alone: the cache
			// has not seen the copy yet, or it is an earlier copy the
			// konnector released (kept), which the cache does not list.
			// Apply takes it over, as for any other write.
			ok = true
		}
	}
	if ok {
		applied, err = rc.Apply(ctx, pkey.Name, desired, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	}
	if err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			e.o.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, "SyncFailed", "Sync", "The provider refused the object: %v%s", err, refusalHint(verb, e.copiesIn(), err))
		}
		return nil, false, fmt.Errorf("writing the provider copy of %s: %w", keyOf(obj), err)
	}
	ProviderWrites.WithLabelValues(e.o.Name, verb).Inc()
	if d, ok := e.down.since(keyOf(obj)); ok {
		SyncLatency.WithLabelValues(e.o.Name, "down").Observe(d.Seconds())
	}
	return applied, created, nil
}

// ownCopy reads the cluster-scoped copy name, whose create failed, and
// returns it, as the cache of copies would hold it, when it is obj's
// copy. Another consumer's copy, or one not granted to this konnector
// yet, is not found.
func (e *Engine) ownCopy(ctx context.Context, rc dynamic.ResourceInterface, obj *unstructured.Unstructured, name string) (*unstructured.Unstructured, bool) {
	got, err := rc.Get(ctx, name, metav1.GetOptions{})
	if err != nil || originUID(got) != string(obj.GetUID()) {
		return nil, false
	}
	_, _ = slimCopy(got)
	return got, true
}

// refusalHint adds to a refusal what the provider's message does not say:
// a ResourceQuota counts only namespaced objects, so the backend bounds a
// consumer's cluster-scoped copies by withdrawing create, and grants
// create only seconds after it first covers the resource with its
// admission policy; the API server then answers with no more than
// "cannot create".
func refusalHint(verb string, scope isolation.GrantScope, err error) string {
	if verb != "create" || scope != isolation.ByName || !apierrors.IsForbidden(err) {
		return ""
	}
	return " (a provider withdraws create of these while a consumer has as many as it allows, and grants it only a few seconds after it first offers them; the object is copied once create is granted)"
}

// providerCopy is the desired provider copy pkey of obj: the consumer's
// spec (every top-level field but metadata and status), user labels and
// annotations, origin metadata, and the labels the isolation asks for.
func (e *Engine) providerCopy(obj *unstructured.Unstructured, pkey types.NamespacedName) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: map[string]any{}}
	for k, v := range obj.Object {
		switch k {
		case "metadata", "status":
			continue
		}
		out.Object[k] = v
	}
	out.SetNamespace(pkey.Namespace)
	out.SetName(pkey.Name)
	extra := map[string]string{ConsumerClusterLabel: e.o.ClusterID}
	for k, v := range e.o.Isolation.CopyLabels(e.consumer()) {
		extra[k] = v
	}
	stampCopy(out, obj, extra)
	return out
}

// cachedCopy returns the provider cache's copy pkey, or the copy the
// engine created that the cache does not show yet. Without a watch of it,
// there is none.
func (e *Engine) cachedCopy(pkey types.NamespacedName) (*unstructured.Unstructured, bool) {
	inf, ok := e.providerInformer(e.watchOf(pkey))
	if !ok {
		return nil, false
	}
	key := cache.NewObjectName(pkey.Namespace, pkey.Name).String()
	item, ok, _ := inf.GetIndexer().GetByKey(key)
	if ok {
		e.created.shown(key)
		return decoded(item)
	}
	return e.created.get(key)
}

// upgradeOwnership moves the fields a create gave the konnector's field
// manager (as an update) to its apply entry, so that fields the consumer
// later removes are removed on the provider too. The cache keeps only the
// konnector's own entries, so the patch is made from the live copy: it
// replaces the copy's whole managed fields list.
func (e *Engine) upgradeOwnership(ctx context.Context, rc dynamic.ResourceInterface, cached *unstructured.Unstructured) error {
	if !createdFieldsUnmoved(cached) {
		return nil
	}
	live, err := rc.Get(ctx, cached.GetName(), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading provider copy %s: %w", cached.GetName(), err)
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(live, sets.New(FieldManager), FieldManager)
	if err != nil || patch == nil {
		return err
	}
	if _, err := rc.Patch(ctx, cached.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("taking over the fields of provider copy %s: %w", cached.GetName(), err)
	}
	return nil
}

// upToDate reports whether the cached copy already has everything desired
// holds, and its labels and annotations the konnector wrote are the ones
// desired has (hasField, hasMetadata: a label or annotation the consumer
// removed must go from the copy too); the provider may add fields of its
// own to the spec (Crossplane's references), and labels and annotations,
// which need no write.
func upToDate(desired, cached *unstructured.Unstructured) bool {
	for k, v := range desired.Object {
		if k == "metadata" || k == "apiVersion" || k == "kind" {
			continue
		}
		if !hasField(cached, k, v) {
			return false
		}
	}
	return hasMetadata(cached, desired.GetLabels(), desired.GetAnnotations())
}

// createdCopies holds the copies the engine created that the provider
// cache has not shown yet, by provider cache key, so that the syncs in
// between do not write them again. Unlike client-go's MutationCache with
// includeAdds (used for consumer objects, without adds), an entry goes as
// soon as the provider watch reports the copy deleted, so a copy deleted
// out of band is never taken for present.
type createdCopies struct {
	mu   sync.Mutex
	byID map[string]createdCopy
}

type createdCopy struct {
	obj *unstructured.Unstructured
	at  time.Time
}

// createdTTL bounds how long a created copy stands in for the provider
// cache, should the cache never show it (for example when the copy is
// deleted before the watch delivers it).
const createdTTL = 30 * time.Second

// remember keeps a created copy until the provider cache shows it.
func (c *createdCopies) remember(obj *unstructured.Unstructured) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil {
		c.byID = map[string]createdCopy{}
	}
	c.byID[cache.MetaObjectToName(obj).String()] = createdCopy{obj: obj, at: time.Now()}
}

// get returns the created copy of key while it stands in for the cache.
func (c *createdCopies) get(key string) (*unstructured.Unstructured, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cc, ok := c.byID[key]
	switch {
	case ok && time.Since(cc.at) < createdTTL:
		return cc.obj, true
	case ok:
		delete(c.byID, key)
	}
	return nil, false
}

// shown forgets the created copy of key: the cache shows it now.
func (c *createdCopies) shown(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, key)
}

// forget forgets a created copy the provider cache saw deleted.
func (c *createdCopies) forget(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.shown(key)
	}
}
